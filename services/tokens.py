"""Unguessable tokens for links: 128 random bits, URL-safe, well inside Telegram's 64-character limit."""

import re
import secrets

TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def new_token() -> str:
    return secrets.token_urlsafe(16)  # 16 bytes = 128 bits -> 22 characters of A-Za-z0-9_-


def looks_like_token(text: str) -> bool:
    return bool(TOKEN_PATTERN.fullmatch(text))
