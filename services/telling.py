"""What people must be told, written to an outbox (the tellings table) in the transaction of the change it tells of.

The same habit as callbacks to shops (services.callback_outbox): a service that changes something records, in its
own transaction, one row per message owed (a receipt, a requester's note, a note to each admin, a refund or
decline notice) and one per card to redraw. The teller (handlers.teller) renders each row from what the database
says when it is sent, sends it and marks it done. So a crash between the change and the message loses nothing,
and nothing is handed back up to be told by whoever called.

A row is claimed by a lease (claimed_until). The worker that records it holds it first, and its doorbell wakes
its teller as soon as the transaction commits; a row whose worker died before telling it is claimed again, by
one conditional UPDATE, once its lease has run out (services.telling_delivery, from the housekeeping job). A row
is sent by one worker at a time, then marked done: told at least once, and twice only if a worker dies between
sending and marking.

The outbox in three modules: what a row says (services.telling_rows); recording it (here); handing rows to the
teller, with the doorbell, the leases on rows and what the rows tell of (services.telling_delivery).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.notices import ReturnReason
from services.read_models import OrderInfo, PaymentInfo, RequestInfo
from services.telling_delivery import LEASE, Doorbell, TellingLeases, TellingSubjects
from services.telling_rows import AFTER_DONE, CLOSED, COVERED, FIELDS, Charge, Claimed, Kind, Told
from storage.database import Database, after_commit
from storage.models import Order, OrderStatus, Payment, PayRequest, RequestMode, RequestStatus, utcnow
from storage.queries.tellings import record_tellings

PAID = OrderStatus.PAID.value


class Tellings:
    """Recording what people must be told, inside the caller's transaction; and the outbox's doorbell, leases and
    subjects, for the teller."""

    def __init__(self, db: Database, admin_ids: Iterable[int]) -> None:
        self.db = db
        self.admin_ids = tuple(admin_ids)
        self.doorbell = Doorbell()
        self.leases = TellingLeases(db)
        self.subjects = TellingSubjects(db)

    async def paid(self, session: AsyncSession, payment: Payment, order: Order, request: PayRequest | None) -> None:
        """A charge was credited: a receipt to the payer and a note to each admin; for a request, a note to the
        requester and its cards redrawn (closed, when this payment paid the order)."""
        assert payment.id is not None
        covered = request is not None and request.status != RequestStatus.OPEN

        def about_charge(kind: Kind, chat_id: int | None, **more: Any) -> Told:
            return Told(kind, chat_id, order_id=payment.order_id, payment_id=payment.id, **more)

        rows = [about_charge(Kind.RECEIPT, payment.payer_id)] if payment.payer_id is not None else []
        rows += [
            about_charge(Kind.PAID_NOTE, admin_id, reason=COVERED if covered else None) for admin_id in self.admin_ids
        ]
        if request is not None and request.id is not None:
            reason = COVERED if covered else None
            rows.append(about_charge(Kind.REQUESTER_NOTE, request.requester_id, request_id=request.id, reason=reason))
            rows.append(Told(Kind.CARD, request_id=request.id, reason=CLOSED if covered else None))
        if request is None or covered:  # the order is paid: what still offers to pay for it is tidied
            rows.append(Told(Kind.TIDY, order_id=payment.order_id, payment_id=payment.id, reason=PAID))
        # Its receipt and notes are told as this transaction wrote the charge, copied here at the end of the change
        # (no read on the hot path of every payment): the payment, order and request they show do not change after
        # it. Not a chip-in's: its note shows what friends have covered when it is told, which later chip-ins change.
        written = None
        if request is None or request.mode != RequestMode.SPLIT:
            written = PaymentInfo.of(payment), OrderInfo.of(order), None if request is None else RequestInfo.of(request)
        await self._record(session, rows, written)

    async def declined(self, session: AsyncSession, payment: Payment) -> None:
        """A payment was declined: its payer is told, and the request's cards drop the friend who was paying."""
        assert payment.id is not None
        rows = []
        if payment.payer_id is not None:
            rows.append(Told(Kind.DECLINED, payment.payer_id, order_id=payment.order_id, payment_id=payment.id))
        if payment.request_id is not None:
            rows.append(Told(Kind.CARD, request_id=payment.request_id))
        await self._record(session, rows)

    async def refunded(
        self, session: AsyncSession, refund_id: int, payment: Payment, *, pending: bool, reason: str | None = None
    ) -> None:
        """Money went back (or is owed back): the payer and the admins are told, and when the shop refunded what a
        friend paid for someone, that someone too. pending: the provider took the refund but has not finished it;
        only the admins hear of it now."""

        def about_refund(kind: Kind, chat_id: int | None) -> Told:
            return Told(kind, chat_id, order_id=payment.order_id, payment_id=payment.id, refund_id=refund_id)

        if pending:
            rows = [about_refund(Kind.REFUND_PENDING, admin_id) for admin_id in self.admin_ids]
        else:
            rows = [about_refund(Kind.REFUNDED, payment.payer_id)] if payment.payer_id is not None else []
            if reason == ReturnReason.SHOP_REFUND and payment.request_id is not None:
                request = await session.get(PayRequest, payment.request_id)
                if request is not None and request.requester_id != payment.payer_id:
                    rows.append(about_refund(Kind.REQUESTER_REFUNDED, request.requester_id))
            rows += [about_refund(Kind.REFUND_NOTE, admin_id) for admin_id in self.admin_ids]
        await self._record(session, rows)

    async def refund_failed(
        self, session: AsyncSession, refund_id: int, payment: Payment, why: str, *, after_done: bool = False
    ) -> None:
        """A refund did not go back to the payer (who was not told it did): the admins must act."""
        reason = AFTER_DONE if after_done else None
        rows = [
            Told(
                Kind.REFUND_FAILED,
                admin_id,
                payment.order_id,
                payment.id,
                refund_id=refund_id,
                reason=reason,
                detail=why,
            )
            for admin_id in self.admin_ids
        ]
        await self._record(session, rows)

    async def orphan_charged(self, session: AsyncSession, charge_id: int) -> None:
        """Money arrived for a checkout daifu does not know: the admins are told what became of it."""
        await self._record(session, [Told(Kind.ORPHAN, admin_id, orphan_id=charge_id) for admin_id in self.admin_ids])

    async def request_closed(self, session: AsyncSession, request: PayRequest, status: RequestStatus) -> None:
        """A request was cancelled or expired: its cards and the messages still offering to pay for it say so,
        and an expired one's requester is told."""
        assert request.id is not None
        rows = [
            Told(Kind.CARD, request_id=request.id, reason=CLOSED),
            Told(Kind.TIDY, order_id=request.order_id, request_id=request.id, reason=status.value),
        ]
        if status == RequestStatus.EXPIRED:
            rows.append(
                Told(Kind.REQUEST_EXPIRED, request.requester_id, order_id=request.order_id, request_id=request.id)
            )
        await self._record(session, rows)

    async def support_asked(self, session: AsyncSession, asker_id: int, payment: Payment | None) -> None:
        """A person asked for help with a payment (/paysupport), or with this one: each admin is told."""
        order_id, payment_id = (None, None) if payment is None else (payment.order_id, payment.id)
        rows = [
            Told(Kind.SUPPORT_ASKED, admin_id, order_id, payment_id, detail=str(asker_id))
            for admin_id in self.admin_ids
        ]
        await self._record(session, rows)

    async def tidy(self, session: AsyncSession, *, order_id: int, reason: str, request_id: int | None = None) -> None:
        """The order (or, if named, the request) is finished (reason: paid, cancelled or expired): the messages that
        still offer to pay for it are tidied (services.live_messages)."""
        await self._record(session, [Told(Kind.TIDY, order_id=order_id, request_id=request_id, reason=reason)])

    async def card_changed(self, session: AsyncSession, request_id: int) -> None:
        """Something a request's cards show changed (a friend started paying): redraw them."""
        await self._record(session, [Told(Kind.CARD, request_id=request_id)])

    async def _record(self, session: AsyncSession, rows: Sequence[Told], written: Charge | None = None) -> None:
        if not rows:
            return
        now = utcnow()
        # Held by this worker from the start: its teller is rung when the transaction commits.
        until = now + LEASE
        recorded = [{name: getattr(row, name) for name in FIELDS} for row in rows]
        written_down = [
            values | {"kind": values["kind"].value, "created_at": now, "claimed_until": until, "attempts": 0}
            for values in recorded
        ]
        ids = await record_tellings(session, rows=written_down)
        claimed = [
            Claimed(**values, id=row_id, claimed_until=until, written=written)
            for row_id, values in zip(ids, recorded, strict=True)
        ]
        doorbell = self.doorbell
        after_commit(session, lambda: doorbell.ring(claimed))
