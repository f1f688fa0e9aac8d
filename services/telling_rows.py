"""What one row of the tellings outbox says: the kind of message, to whom, and what it tells of."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum

from services.read_models import OrderInfo, PaymentInfo, RequestInfo


class Kind(StrEnum):
    RECEIPT = "receipt"  # to the payer: payment_id
    PAID_NOTE = "paid_note"  # to an admin: payment_id; reason COVERED if it covered the request
    REQUESTER_NOTE = "requester_note"  # to the requester: payment_id; reason COVERED if it covered the request
    CARD = "card"  # no chat: the request's cards are redrawn; reason CLOSED if it was paid, cancelled or expired
    DECLINED = "declined"  # to the payer: payment_id
    REQUEST_EXPIRED = "request_expired"  # to the requester: request_id
    REFUNDED = "refunded"  # to the payer: refund_id
    REFUND_NOTE = "refund_note"  # to an admin: refund_id
    REFUND_PENDING = "refund_pending"  # to an admin: refund_id (the provider has not finished it)
    REFUND_FAILED = "refund_failed"  # to an admin: refund_id, detail: why; reason AFTER_DONE if it had succeeded
    ORPHAN = "orphan"  # to an admin: orphan_id
    SUPPORT_ASKED = "support_asked"  # to an admin: detail: who asked (their id); payment_id: the one they quoted
    # No chat: the messages still offering to pay for the order (or, with request_id, the request) are tidied;
    # reason: paid, cancelled or expired; payment_id: the charge that paid it, if known.
    TIDY = "tidy"
    # To the requester of an order a friend paid: refund_id (services.telling.Tellings.refunded)
    REQUESTER_REFUNDED = "requester_refunded"


COVERED = "covered"
CLOSED = "closed"
AFTER_DONE = "after_done"

CHARGE_KINDS = frozenset({Kind.RECEIPT, Kind.PAID_NOTE, Kind.REQUESTER_NOTE, Kind.DECLINED})
# The kinds whose rows need their charge read to be told.
ABOUT_A_CHARGE = CHARGE_KINDS | {Kind.SUPPORT_ASKED}
REFUND_KINDS = frozenset(
    {Kind.REFUNDED, Kind.REFUND_NOTE, Kind.REFUND_PENDING, Kind.REFUND_FAILED, Kind.REQUESTER_REFUNDED}
)

# A charge with its order and the request it paid (if any).
Charge = tuple[PaymentInfo, OrderInfo, RequestInfo | None]


@dataclass(frozen=True, slots=True)
class Told:
    """A row as a service records it."""

    kind: Kind
    chat_id: int | None = None
    order_id: int | None = None
    payment_id: int | None = None
    request_id: int | None = None
    refund_id: int | None = None
    orphan_id: int | None = None
    reason: str | None = None
    detail: str | None = None


FIELDS = tuple(field.name for field in fields(Told))


@dataclass(frozen=True, slots=True, kw_only=True)
class Claimed(Told):
    """A row to tell, held by this worker until claimed_until."""

    id: int
    claimed_until: datetime
    # The charge, its order and request as the transaction that recorded the row wrote them, for the teller of
    # that worker: straight after the commit they are what the database says (see Tellings.paid).
    written: Charge | None = None
