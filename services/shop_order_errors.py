"""The shop API's error vocabulary: the stable codes a refusal carries, and the one exception that carries them."""

from __future__ import annotations

from enum import StrEnum

IDEMPOTENCY_KEY_MAX = 255


class Problem(StrEnum):
    """The stable error codes of the API; web.shop_api maps each to its HTTP status."""

    BAD_REQUEST = "bad_request"
    INVALID_AMOUNT = "invalid_amount"
    UNKNOWN_CURRENCY = "unknown_currency"
    NO_PAYMENT_METHOD = "no_payment_method"  # no allowed, enabled method can take this currency
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    IN_PROGRESS = "in_progress"  # a refund under this Idempotency-Key is still being made
    NOT_REFUNDABLE = "not_refundable"
    PROVIDER_ERROR = "provider_error"  # the payment provider failed to refund; nothing was given back


class ShopOrderError(Exception):
    def __init__(self, problem: Problem, message: str) -> None:
        super().__init__(message)
        self.problem = problem
        self.message = message


def require_idempotency_key(key: str) -> None:
    if not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX:
        raise ShopOrderError(Problem.BAD_REQUEST, "Idempotency-Key must be 1 to 255 characters")
