"""What people must be told after something happened to an order; handlers render and deliver them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from storage.models import Order, Payment


class ReturnReason(StrEnum):
    ALREADY_PAID = "already_paid"  # someone else's payment got there first
    ORDER_CLOSED = "order_closed"  # cancelled or expired before the money arrived
    AMOUNT_MISMATCH = "amount_mismatch"
    SHOP_REFUND = "shop_refund"  # an admin gave the money back


@dataclass(frozen=True, slots=True)
class OrderPaid:
    """To the payer: a receipt. To the shop's admins: a note."""

    order: Order
    payment: Payment


@dataclass(frozen=True, slots=True)
class PaymentReturned:
    """Money came back (or, for Telegram card payments, is owed back through the provider)."""

    order: Order
    payment: Payment
    reason: ReturnReason
    owed: bool  # True when the bot could not refund it itself


@dataclass(frozen=True, slots=True)
class PaymentDeclined:
    order: Order
    payer_id: int | None


Notice = OrderPaid | PaymentReturned | PaymentDeclined
