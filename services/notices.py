"""What people must be told after something happened to an order; handlers render and deliver them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from payments.base import Amount as Money
from storage.models import Order, OrphanCharge, Payment, PayRequest, RequestStatus


class ReturnReason(StrEnum):
    ALREADY_PAID = "already_paid"  # someone else's payment got there first
    ORDER_CLOSED = "order_closed"  # cancelled or expired before the money arrived
    REQUEST_CANCELLED = "request_cancelled"  # a chip-in given back: the requester called the request off
    REQUEST_EXPIRED = "request_expired"  # a chip-in given back: the request ran out of time before it was covered
    COVERED = "covered"  # a chip-in that arrived when friends had already covered (all but less than) it
    AMOUNT_MISMATCH = "amount_mismatch"
    SHOP_REFUND = "shop_refund"  # an admin gave the money back


@dataclass(frozen=True, slots=True)
class OrderPaid:
    """To the payer: a receipt. To the shop's admins: a note. For a request: the requester, and its cards."""

    order: Order
    payment: Payment
    request: PayRequest | None = None


@dataclass(frozen=True, slots=True)
class ChippedIn:
    """A friend paid part of a split request that is not covered yet."""

    order: Order
    payment: Payment
    request: PayRequest


@dataclass(frozen=True, slots=True)
class RequestClosed:
    """A request was cancelled or expired: its cards must say so (refunds come as PaymentReturned)."""

    request: PayRequest
    status: RequestStatus


@dataclass(frozen=True, slots=True)
class RequestChanged:
    """Something the request's cards show changed (a friend started paying): redraw them."""

    request_id: int


@dataclass(frozen=True, slots=True)
class PaymentReturned:
    """Money came back (or, for Telegram card payments, is owed back through the provider)."""

    order: Order
    payment: Payment
    reason: ReturnReason
    owed: bool  # True when the bot could not refund it itself
    amount: Money  # what was (or is owed to be) given back: all of the payment, or a part
    refund_id: int | None = None  # the refund row, marked once its payer and admins are told
    # The provider took the refund but has not finished it: only the admins hear of it now; the payer is told
    # when the provider says it succeeded (a PaymentReturned again), and never if it failed (RefundFailed).
    pending: bool = False


@dataclass(frozen=True, slots=True)
class PaymentDeclined:
    order: Order
    payer_id: int | None
    payment_id: int | None = None  # the declined attempt, marked once its payer is told


@dataclass(frozen=True, slots=True)
class RefundFailed:
    """The provider says a refund did not go back to the payer: the admins must act (the payer was not told)."""

    order: Order
    payment: Payment
    amount: Money  # what was asked to go back
    why: str
    refund_id: int | None = None


@dataclass(frozen=True, slots=True)
class OrphanCharged:
    """Money arrived for a checkout daifu does not know: the admins are told what, from whom, and whether it
    went back (Stars), is owed (a card payment) or waits for them (a web provider's charge)."""

    charge: OrphanCharge


Notice = (
    OrderPaid
    | ChippedIn
    | PaymentReturned
    | PaymentDeclined
    | RequestClosed
    | RequestChanged
    | RefundFailed
    | OrphanCharged
)


@dataclass(frozen=True, slots=True)
class ProviderNotices:
    """Put on the update queue by the web server after it applied a provider's notice."""

    notices: tuple[Notice, ...]
