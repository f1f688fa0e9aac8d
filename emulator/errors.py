"""Errors: the ones the Bot API answers with, and the ones a test sees when a person's action fails."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A Bot API error answer; the server turns it into Telegram's JSON error object."""

    def __init__(self, code: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(reason: str) -> ApiError:
    return ApiError(400, f"Bad Request: {reason}")


def forbidden(reason: str) -> ApiError:
    return ApiError(403, f"Forbidden: {reason}")


# The exact wording matters: bots (and PTB users) match on it.
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"


class NoAnswer(TimeoutError):
    """The bot did not answer in time (a callback, inline or pre-checkout query, or an awaited message)."""


class PaymentRefused(Exception):
    """The bot answered the pre-checkout query with ok=False."""

    def __init__(self, error_message: str | None) -> None:
        super().__init__(error_message or "payment refused by the bot")
        self.error_message = error_message
