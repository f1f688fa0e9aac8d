"""Secrets that must never reach a log: one registry, added to wherever a secret is made or read.

Settings hold some secrets (the bot token, provider keys); others are made while daifu runs (a generated
webhook or sandbox secret, a shop's API key and callback secret) and would otherwise be logged in clear the
first time a library logs what it sends (PTB logs every Bot API call's parameters at DEBUG). Whoever makes
or reads such a secret calls `remember`; the logging (bot.logs) replaces every remembered secret in every
record. It lives in services/ so that both the domain, which makes secrets, and bot/, which logs, reach it.
"""

from __future__ import annotations

import threading

REDACTED = "[redacted]"
SHORTEST = 6  # shorter values (an empty setting, "test") would blank ordinary words out of every line

_lock = threading.Lock()
_secrets: set[str] = set()
_longest_first: tuple[str, ...] = ()


def remember(*secrets: str | None) -> None:
    """Never log these values from now on (in this process)."""
    global _longest_first
    fresh = {secret for secret in secrets if secret and len(secret) >= SHORTEST} - _secrets
    if not fresh:
        return
    with _lock:
        _secrets.update(fresh)
        # Longest first, so a secret that contains another is replaced whole.
        _longest_first = tuple(sorted(_secrets, key=len, reverse=True))


def redact(text: str) -> str:
    """The text with every remembered secret replaced by [redacted]."""
    for secret in _longest_first:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def forget_all() -> None:
    """Tests only: start again from an empty registry."""
    global _longest_first
    with _lock:
        _secrets.clear()
        _longest_first = ()
