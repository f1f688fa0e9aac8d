"""Why money goes back, and what a refund did: the answer whoever asked for it is given.

What the payer and the admins are told of it is recorded with the change itself (services.telling).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from payments.base import Amount as Money
from services.read_models import OrderInfo, PaymentInfo


class ReturnReason(StrEnum):
    ALREADY_PAID = "already_paid"  # someone else's payment got there first
    ORDER_CLOSED = "order_closed"  # cancelled or expired before the money arrived
    REQUEST_CANCELLED = "request_cancelled"  # a chip-in given back: the requester called the request off
    REQUEST_EXPIRED = "request_expired"  # a chip-in given back: the request ran out of time before it was covered
    COVERED = "covered"  # a chip-in that arrived when friends had already covered (all but less than) it
    AMOUNT_MISMATCH = "amount_mismatch"
    SHOP_REFUND = "shop_refund"  # an admin gave the money back


@dataclass(frozen=True, slots=True)
class PaymentReturned:
    """Money came back (or, for Telegram card payments, is owed back through the provider)."""

    order: OrderInfo  # as the refund left them
    payment: PaymentInfo
    reason: ReturnReason
    owed: bool  # True when the bot could not refund it itself
    amount: Money  # what was (or is owed to be) given back: all of the payment, or a part
    refund_id: int | None = None
    # The provider took the refund but has not finished it: only the admins hear of it now; the payer is told
    # when the provider says it succeeded, and never if it failed.
    pending: bool = False
