"""When the housekeeping job stops retrying an item that keeps failing (parks it), and how its error is kept."""

from __future__ import annotations

# A stuck notice or refund is tried about once a minute (or two); five failures in a row is no passing hiccup:
# it is parked with its last error for an admin to see in /providers, and no longer tried every minute.
PARK_AFTER_ATTEMPTS = 5
ERROR_CHARS = 500


def error_text(error: BaseException) -> str:
    """An exception as a bounded line any database stores (no NUL, no lone surrogates)."""
    return storable(f"{type(error).__name__}: {error}", ERROR_CHARS)


def storable(text: str, limit: int) -> str:
    """Text cut to `limit` characters that PostgreSQL and SQLite both take, whatever a stranger put in it."""
    cleaned = text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"
