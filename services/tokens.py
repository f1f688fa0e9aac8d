"""Unguessable tokens for links: 128 random bits, URL-safe, well inside Telegram's 64-character limit."""

import re
import secrets

TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


# Pay-for-me request tokens start with this; a link's kind is read from its token (see new_order_token).
REQUEST_PREFIX = "r_"


def new_token() -> str:
    return secrets.token_urlsafe(16)  # 16 bytes = 128 bits -> 22 characters of A-Za-z0-9_-


def new_order_token() -> str:
    """An order's token, which never looks like a request's (one random token in 4096 would)."""
    while (token := new_token()).startswith(REQUEST_PREFIX):
        pass
    return token


def looks_like_token(text: str) -> bool:
    return bool(TOKEN_PATTERN.fullmatch(text))
