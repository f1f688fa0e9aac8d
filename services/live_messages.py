"""Messages that still offer to pay, share, cancel or chip in: remembered when sent, tidied when what they offer is
finished (an order paid, cancelled or expired; a request cancelled or expired).

The tidying itself is a row of the outbox (services.telling, Kind.TIDY), recorded in the transaction that finished
the order or request; the teller takes the messages, edits each one, and gives back those it could not edit yet
(handlers.tidying). A message remembered just
as its order was finished may be missed by that tidying: so, once it is written, the order is read again, and if it
is finished already a tidying of its own is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.read_models import LiveMessageInfo, OrderInfo, PaymentInfo, RequestInfo
from services.telling import Tellings
from services.telling_rows import Charge
from storage.database import Database
from storage.models import OrderStatus, RequestStatus, utcnow
from storage.queries.charges import credited_to_order
from storage.queries.live_messages import (
    add_checkout_message,
    add_live_messages,
    live_message_row,
    subjects_finished,
    take_live_messages,
    tidying_subjects,
)

log = logging.getLogger(__name__)

# Messages with buttons are sent at most updates; each remembered alone would cost a write and a read of its
# order's status. Waiting this long lets the ones sent meanwhile share both (at a hundred updates a second, a
# dozen messages); a tidying meanwhile is caught by that read.
FLUSH_AFTER = 0.25  # seconds


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


async def _finished(
    connection: AsyncConnection, subjects: Collection[tuple[int, int | None]]
) -> list[tuple[int, int | None, str]]:
    """Which of these orders and requests are finished (order id, request id or None, reason), each once.

    Read after the messages are committed, never in their transaction: a tidying that did not see them was then
    committed before this read began, and the read sees what it finished. (Read in the same transaction, a tidying
    committed between the read and the commit would miss the rows, and this read would miss it.) On PostgreSQL the
    connection commits each statement by itself; SQLite has one writer at a time, and a writer reads the newest.
    """
    if not subjects:
        return []
    orders, requests = await subjects_finished(
        connection,
        order_ids={order_id for order_id, _ in subjects},
        request_ids={request_id for _, request_id in subjects if request_id is not None},
    )
    finished: list[tuple[int, int | None, str]] = []
    for order_id, request_id in sorted(subjects, key=lambda subject: (subject[0], subject[1] or 0)):
        order_status = OrderStatus(orders[order_id]) if order_id in orders else None
        request_status = RequestStatus(requests[request_id]) if request_id in requests else None
        if order_status in _FINISHED:
            finished.append((order_id, None, _FINISHED[order_status]))
        elif request_status not in (None, RequestStatus.OPEN):
            finished.append((order_id, request_id, str(request_status)))
    return list(dict.fromkeys(finished))


class LiveMessages:
    """Remembers messages in batches: a message is written down at most FLUSH_AFTER after it is sent, with the
    others sent meanwhile, in one INSERT, and their orders' and requests' statuses are then read at once. A message
    sent just before a crash may be left with its buttons: tapping them is refused as at any finished order."""

    def __init__(self, db: Database, tellings: Tellings, *, flush_after: float = FLUSH_AFTER) -> None:
        self.db = db
        self.tellings = tellings
        self.flush_after = flush_after
        self._rows: list[dict[str, Any]] = []
        self._checkouts: list[tuple[str, dict[str, Any]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._writing = asyncio.Lock()  # one flush at a time: a flush returns once all sent before it is checked
        # Ids of messages taken by a tidying before they were written down (never stored: see give_back).
        self._unwritten_ids = itertools.count(-1, -1)

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
        self._keep(
            kind,
            chat_id=chat_id,
            message_id=message_id,
            order_id=order_id,
            request_id=request_id,
            checkout_ref=checkout_ref,
            locale=locale,
            text=text,
        )

    async def remember_inline(
        self, kind: LiveKind, *, inline_message_id: str, order_id: int, request_id: int | None, locale: str
    ) -> None:
        """Remember a message posted through the chat picker, known by its inline id alone."""
        self._keep(kind, inline_message_id=inline_message_id, order_id=order_id, request_id=request_id, locale=locale)

    def _keep(self, kind: LiveKind, **values: Any) -> None:
        self._rows.append(live_message_row(kind=kind.value, created_at=utcnow(), **values))
        self._flush_soon()

    async def remember_listed(
        self, kind: LiveKind, *, chat_id: int, message_id: int, locale: str, subjects: Sequence[tuple[int, int | None]]
    ) -> None:
        """Remember one message that lists several orders or requests (order id, request id), one row for each."""
        now = utcnow()
        self._rows.extend(
            live_message_row(
                kind=kind.value,
                chat_id=chat_id,
                message_id=message_id,
                order_id=order_id,
                request_id=request_id,
                locale=locale,
                created_at=now,
            )
            for order_id, request_id in subjects
        )
        self._flush_soon()

    async def remember_checkout(
        self, kind: LiveKind, *, checkout_ref: str, chat_id: int, message_id: int, locale: str, text: str | None
    ) -> None:
        """Remember a message showing a checkout (an invoice, a page's link), found by its reference."""
        row = live_message_row(
            kind=kind.value, chat_id=chat_id, message_id=message_id, locale=locale, text=text, created_at=utcnow()
        )
        self._checkouts.append((checkout_ref, row))
        self._flush_soon()

    def _flush_soon(self) -> None:
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush_in_a_while())

    async def _flush_in_a_while(self) -> None:
        while self._rows or self._checkouts:
            await asyncio.sleep(self.flush_after)
            await self.flush()

    async def flush(self) -> None:
        """Write down the messages sent since the last flush, then tidy those whose order or request is finished."""
        async with self._writing:
            await self._flush()

    async def _flush(self) -> None:
        rows, self._rows = self._rows, []
        checkouts, self._checkouts = self._checkouts, []
        if not rows and not checkouts:
            return
        try:
            subjects = {(row["order_id"], row["request_id"]) for row in rows}
            # One connection for the batch: each write is atomic by itself (a message remembered or not), and the
            # statuses are read after the writes are committed (see _finished).
            async with self.db.alone() as connection:
                await add_live_messages(connection, rows=rows)
                for checkout_ref, row in checkouts:
                    subject = await add_checkout_message(connection, checkout_ref=checkout_ref, row=row)
                    if subject is not None:
                        subjects.add(subject)
                finished = await _finished(connection, subjects)
            if finished:
                async with self.db.transaction() as session:
                    for order_id, request_id, reason in finished:
                        await self.tellings.tidy(session, order_id=order_id, request_id=request_id, reason=reason)
        except Exception:  # the messages keep their buttons; a tap on one is refused as on any finished order
            log.exception("could not remember %d messages", len(rows) + len(checkouts))

    async def close(self) -> None:
        """Write down what is waiting (at shutdown)."""
        if self._flushing is not None:
            self._flushing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flushing
            self._flushing = None
        await self.flush()

    async def tidying(
        self, *, order_id: int | None, request_id: int | None, payment_id: int | None, written: Charge | None = None
    ) -> Tidying | None:
        """Take the messages of a finished request (if named) or order to tidy, with what they are about; None if
        none is left. What the tidying does not finish it gives back (give_back), for its next try.

        written: the charge that paid the order, with its order and request, as the paying transaction wrote them
        (Claimed.written): what the status line shows, without reading it again."""
        unwritten = self._take_unwritten(order_id=order_id, request_id=request_id, written=written)
        async with self.db.alone() as connection:
            taken = await take_live_messages(connection, order_id=order_id, request_id=request_id)
        taken += unwritten
        if not taken:
            return None
        messages = [LiveMessageInfo(**{name: row[name] for name in LiveMessageInfo.__match_args__}) for row in taken]
        if written is not None and request_id is None:
            # Not a split's (Tellings.paid copies none for those): the order was paid once, by this charge alone.
            charge, paid_order, paid_request = written
            return Tidying(messages, paid_order, paid_request, charge, frozenset({charge.checkout_ref}))
        async with self.db.reading() as session:
            found = await tidying_subjects(
                session, order_id=messages[0].order_id, request_id=request_id, payment_id=payment_id
            )
            if found is None:
                return None
            order, request, payment = found
            # The charges credited to the order are read only when needed: to know which invoices were paid (no
            # note follows those), and which charge paid the order when the outbox row names none.
            paid = order.status in (OrderStatus.PAID, OrderStatus.REFUNDED)
            paying_checkout = None if payment is None else payment.checkout_ref
            unsettled = [m for m in messages if m.kind == LiveKind.INVOICE and m.checkout_ref != paying_checkout]
            credited = (
                await credited_to_order(session, order_id=order.id or 0)
                if paid and (payment is None or unsettled)
                else []
            )
            if payment is None and credited:
                payment = max(credited, key=lambda charge: charge.id or 0)
                if request is None and payment.request_id is not None:
                    found = await tidying_subjects(
                        session, order_id=order.id or 0, request_id=None, payment_id=payment.id
                    )
                    request = None if found is None else found[1]
            settled = {charge.checkout_ref for charge in credited}
            if payment is not None and payment.credited:
                settled.add(payment.checkout_ref)
            return Tidying(
                messages,
                OrderInfo.of(order),
                None if request is None else RequestInfo.of(request),
                None if payment is None else PaymentInfo.of(payment),
                frozenset(settled),
            )

    def _take_unwritten(
        self, *, order_id: int | None, request_id: int | None, written: Charge | None
    ) -> list[dict[str, Any]]:
        """The messages of the request (if named) or order still waiting to be written down, taken by the tidying
        at hand: a friend mostly pays within the quarter second a batch waits, and writing such a message down
        only to find its order paid would cost a second tidying and its reads. The invoice that paid is dropped
        (Telegram shows it paid; the batch would not write it down either). Taken before any wait: a batch
        being written down meanwhile is not here, and is checked by its own read (_finished)."""
        if request_id is None:
            mine = [row for row in self._rows if row["order_id"] == order_id]
        else:
            mine = [row for row in self._rows if row["request_id"] == request_id]
        if mine:
            taken = {id(row) for row in mine}
            self._rows = [row for row in self._rows if id(row) not in taken]
        if written is not None and self._checkouts:
            paid_ref = written[0].checkout_ref
            self._checkouts = [(ref, row) for ref, row in self._checkouts if ref != paid_ref]
        return [row | {"id": next(self._unwritten_ids)} for row in mine]

    async def give_back(self, messages: Sequence[LiveMessageInfo]) -> None:
        """Messages a tidying took and could not tidy yet (a passing failure): the next try takes them again."""
        if messages:
            now = utcnow()
            # Written afresh (new ids): some were taken before they were ever written down.
            rows = [
                live_message_row(
                    **{name: value for name, value in asdict(message).items() if name != "id"}, created_at=now
                )
                for message in messages
            ]
            async with self.db.alone() as connection:
                await add_live_messages(connection, rows=rows)
