"""Messages that still offer to pay, share, cancel or chip in: remembered when sent, tidied when what they offer is
finished (an order paid, cancelled or expired; a request cancelled or expired).

The tidying itself is a row of the outbox (services.telling, Kind.TIDY), recorded in the transaction that finished
the order or request; the teller edits each message and forgets it (handlers.tidying). A message remembered just
as its order was finished may be missed by that tidying: so, once it is written, the order is read again, and if it
is finished already a tidying of its own is recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from services.read_models import LiveMessageInfo, OrderInfo, PaymentInfo, RequestInfo
from services.telling import Tellings
from storage.database import Database
from storage.models import OrderStatus, Payment, PayRequest, RequestStatus, utcnow
from storage.queries.charges import credited_to_order
from storage.queries.live_messages import (
    add_live_message,
    add_live_messages,
    checkout_subject,
    forget_live_messages,
    live_messages_of,
    subject_statuses,
    subjects_finished,
)


class LiveKind(StrEnum):
    ORDER_VIEW = "order_view"  # the order and its ways to pay, shown on /start <token>
    SHARE_KIT = "share_kit"  # a new request's kit: share in a chat, QR code, cancel
    REQUEST_OFFER = "request_offer"  # a request shown to a friend, with the ways to pay or chip in
    INVOICE = "invoice"  # a Telegram invoice: cannot be edited, so a note follows it
    # An invoice posted into a chat through the chat picker: the bot knows no chat to send a note to, only the
    # message's inline id, so its Pay button is relabelled with the status line instead.
    INLINE_INVOICE = "inline_invoice"
    CHECKOUT_LINK = "checkout_link"  # a button to the provider's checkout page
    REQUEST_LIST = "request_list"  # /requests, one row for each open request it lists
    MY_ORDER = "my_order"  # an order opened from /my: share again, remind, cancel the request, or pay


# What finished an order or a request, as a tidying row's reason.
PAID, CANCELLED, EXPIRED = OrderStatus.PAID.value, OrderStatus.CANCELLED.value, OrderStatus.EXPIRED.value
_FINISHED = {
    OrderStatus.PAID: PAID,
    OrderStatus.REFUNDED: PAID,
    OrderStatus.CANCELLED: CANCELLED,
    OrderStatus.EXPIRED: EXPIRED,
}


@dataclass(frozen=True, slots=True)
class Tidying:
    """What a finished order or request leaves to tidy, and what its status line says."""

    messages: list[LiveMessageInfo]
    order: OrderInfo
    request: RequestInfo | None  # the one finished, or the one that paid the order
    payment: PaymentInfo | None  # the charge that paid the order (the last one, for a split)
    settled: frozenset[str]  # the checkouts whose charges are credited to the order (an invoice paid)


class LiveMessages:
    def __init__(self, db: Database, tellings: Tellings) -> None:
        self.db = db
        self.tellings = tellings

    async def remember(
        self,
        kind: LiveKind,
        *,
        chat_id: int,
        message_id: int,
        order_id: int,
        locale: str,
        request_id: int | None = None,
        text: str | None = None,
        checkout_ref: str | None = None,
    ) -> None:
        values = {
            "kind": kind.value,
            "chat_id": chat_id,
            "message_id": message_id,
            "order_id": order_id,
            "request_id": request_id,
            "checkout_ref": checkout_ref,
            "locale": locale,
            "text": text,
            "created_at": utcnow(),
        }
        async with self.db.transaction() as session:
            await add_live_message(session, values=values)
        await self._tidy_if_finished(order_id, request_id)

    async def remember_inline(
        self, kind: LiveKind, *, inline_message_id: str, order_id: int, request_id: int | None, locale: str
    ) -> None:
        """Remember a message posted through the chat picker, known by its inline id alone."""
        values = {
            "kind": kind.value,
            "inline_message_id": inline_message_id,
            "order_id": order_id,
            "request_id": request_id,
            "locale": locale,
            "created_at": utcnow(),
        }
        async with self.db.transaction() as session:
            await add_live_message(session, values=values)
        await self._tidy_if_finished(order_id, request_id)

    async def _tidy_if_finished(self, order_id: int, request_id: int | None) -> None:
        # Read after the row is committed: a tidying that did not see it was recorded before this read.
        async with self.db.reading() as session:
            order, request = await subject_statuses(session, order_id=order_id, request_id=request_id)
            order_status = None if order is None else OrderStatus(order.status)
            request_status = None if request is None else RequestStatus(request.status)
        if order_status in _FINISHED:
            async with self.db.transaction() as session:
                await self.tellings.tidy(session, order_id=order_id, reason=_FINISHED[order_status])
        elif request_status not in (None, RequestStatus.OPEN):
            async with self.db.transaction() as session:
                await self.tellings.tidy(session, order_id=order_id, request_id=request_id, reason=str(request_status))

    async def remember_listed(
        self, kind: LiveKind, *, chat_id: int, message_id: int, locale: str, subjects: Sequence[tuple[int, int | None]]
    ) -> None:
        """Remember one message that lists several orders or requests (order id, request id), one row for each: all
        in one INSERT, then checked as remember does, the statuses of all of them read at once."""
        if not subjects:
            return
        now = utcnow()
        rows = [
            {
                "kind": kind.value,
                "chat_id": chat_id,
                "message_id": message_id,
                "order_id": order_id,
                "request_id": request_id,
                "checkout_ref": None,
                "locale": locale,
                "text": None,
                "created_at": now,
            }
            for order_id, request_id in subjects
        ]
        async with self.db.alone() as connection:
            await add_live_messages(connection, rows=rows)
        async with self.db.reading() as session:
            orders, requests = await subjects_finished(
                session,
                order_ids={order_id for order_id, _ in subjects},
                request_ids={request_id for _, request_id in subjects if request_id is not None},
            )
        finished: list[tuple[int, int | None, str]] = []
        for order_id, request_id in subjects:
            order_status = OrderStatus(orders[order_id]) if order_id in orders else None
            request_status = RequestStatus(requests[request_id]) if request_id in requests else None
            if order_status in _FINISHED:
                finished.append((order_id, None, _FINISHED[order_status]))
            elif request_status not in (None, RequestStatus.OPEN):
                finished.append((order_id, request_id, str(request_status)))
        if finished:
            async with self.db.transaction() as session:
                for order_id, request_id, reason in finished:
                    await self.tellings.tidy(session, order_id=order_id, request_id=request_id, reason=reason)

    async def remember_checkout(
        self, kind: LiveKind, *, checkout_ref: str, chat_id: int, message_id: int, locale: str, text: str | None
    ) -> None:
        """Remember a message showing a checkout (an invoice, a page's link), found by its reference."""
        async with self.db.reading() as session:
            subject = await checkout_subject(session, checkout_ref=checkout_ref)
        if subject is None:
            return
        order_id, request_id = subject
        await self.remember(
            kind,
            chat_id=chat_id,
            message_id=message_id,
            order_id=order_id,
            request_id=request_id,
            locale=locale,
            text=text,
            checkout_ref=checkout_ref,
        )

    async def tidying(self, *, order_id: int | None, request_id: int | None, payment_id: int | None) -> Tidying | None:
        """The messages of a finished request (if named) or order, with what they are about; None if none is left."""
        async with self.db.reading() as session:
            rows = await live_messages_of(session, order_id=order_id, request_id=request_id)
            if not rows:
                return None
            order, request = await subject_statuses(session, order_id=rows[0].order_id, request_id=request_id)
            if order is None:
                return None
            payment = None if payment_id is None else await session.get(Payment, payment_id)
            credited = await credited_to_order(session, order_id=order.id or 0)
            if payment is None and credited and order.status in (OrderStatus.PAID, OrderStatus.REFUNDED):
                payment = max(credited, key=lambda charge: charge.id or 0)
            if request is None and payment is not None and payment.request_id is not None:
                request = await session.get(PayRequest, payment.request_id)
            return Tidying(
                [LiveMessageInfo.of(row) for row in rows],
                OrderInfo.of(order),
                None if request is None else RequestInfo.of(request),
                None if payment is None else PaymentInfo.of(payment),
                frozenset(charge.checkout_ref for charge in credited),
            )

    async def forget(self, ids: Sequence[int]) -> None:
        """Tidied (or refused by Telegram for good): never tidied again."""
        async with self.db.transaction() as session:
            await forget_live_messages(session, ids=ids)
