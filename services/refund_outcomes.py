"""What became of a refund daifu asked a provider for, on the books: pending (its reference kept), done or owed
(the charge and the order moved), or failed, its reservation on the charge released."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from payments.base import Refund as ProviderRefund
from payments.base import RefundStatus
from services.callback_outbox import enqueue_callback
from services.money import Money
from services.notices import PaymentReturned, ReturnReason
from services.order_states import move, record_event
from services.read_models import OrderInfo, PaymentInfo
from services.telling import Tellings
from storage.database import Database
from storage.models import Order, OrderStatus, Payment, PaymentStatus, Refund, utcnow
from storage.queries.charges import close_refunded, credited_left, release_refund
from storage.queries.refunds import fail_refund, finish_refund, keep_refund_pending


class RefundOutcomes:
    """A provider's answer to a refund (given when asked, in a refund event, or when asked again) on the books.
    Who must be told of each change is recorded with it (services.telling)."""

    def __init__(self, db: Database, tellings: Tellings) -> None:
        self.db = db
        self.tellings = tellings

    async def fail(self, refund_id: int, why: str, *, told: bool = False, tell: str | None = None) -> None:
        """The refund did not go back: its reservation on the charge is released, so it can be asked again.
        Once: only a refund still pending fails. The admins are told why (tell, if given, in those words), unless
        whoever asked for it heard why already (told)."""
        now = utcnow()
        async with self.db.transaction() as session:
            refund = await session.get(Refund, refund_id)
            assert refund is not None
            failed_at = None if told else now
            if not await fail_refund(
                session, refund_id=refund_id, was="pending", why=why[:1000], finished_at=failed_at
            ):
                return
            asked = refund.asked_minor or refund.amount_minor
            await release_refund(session, payment_id=refund.payment_id, part=asked)
            payment = await session.get(Payment, refund.payment_id, populate_existing=True)
            assert payment is not None
            await record_event(
                session,
                payment.order_id,
                "refund_failed",
                actor_id=refund.actor_id,
                payment_id=payment.id,
                why=why[:200],
            )
            if tell is not None or not told:
                await self.tellings.refund_failed(session, refund_id, payment, tell if tell is not None else why)

    async def record(
        self, refund_id: int, answer: ProviderRefund | None, *, tell_pending: bool, late: bool = False
    ) -> PaymentReturned | None:
        """What the provider answered, on the books: pending (its reference kept), succeeded (the amount it
        gave back recorded, the charge and the order moved), or None: owed, made at the provider by hand.
        None is returned when another worker (or event) recorded the outcome first. Who must be told is recorded
        with it: the payer and the admins, or only the admins while it is pending (if tell_pending).

        late: the outcome came after the call that asked for it (an event, a resumed refund): finished_at then
        says when."""
        async with self.db.transaction() as session:
            refund = await session.get(Refund, refund_id, populate_existing=True)
            assert refund is not None
            payment = await session.get(Payment, refund.payment_id, populate_existing=True)
            assert payment is not None
            if answer is not None and answer.status == RefundStatus.PENDING:
                return await self._keep_pending(session, refund_id, refund, payment, answer, tell_pending=tell_pending)
            return await self._finish(session, refund_id, refund, payment, answer, late=late)

    async def as_recorded(self, refund_id: int) -> PaymentReturned:
        """The refund as another path recorded it first (a provider's event that overtook the answer to the call
        that asked for it), and recorded what people must be told of it."""
        async with self.db.transaction() as session:
            refund = await session.get(Refund, refund_id)
            assert refund is not None
            payment = await session.get(Payment, refund.payment_id)
            assert payment is not None
            order = await session.get(Order, payment.order_id)
            assert order is not None
            money = Money(refund.amount_minor, refund.currency)
            owed, pending = refund.status == "owed", refund.status == "pending"
            return PaymentReturned(
                OrderInfo.of(order),
                PaymentInfo.of(payment),
                ReturnReason(refund.reason),
                owed,
                money,
                refund_id,
                pending=pending,
            )

    async def _keep_pending(
        self,
        session: AsyncSession,
        refund_id: int,
        refund: Refund,
        payment: Payment,
        answer: ProviderRefund,
        *,
        tell_pending: bool,
    ) -> PaymentReturned:
        """The provider took the refund and has not finished it: its reference kept, and what it says it gives
        back."""
        reason = ReturnReason(refund.reason)
        money = Money(_given(refund, answer), refund.currency)
        await keep_refund_pending(session, refund_id=refund_id, refund_ref=answer.refund_ref, amount_minor=money.minor)
        order = await session.get(Order, payment.order_id)
        assert order is not None
        if tell_pending:
            await self.tellings.refunded(session, refund_id, payment, pending=True)
        return PaymentReturned(
            OrderInfo.of(order), PaymentInfo.of(payment), reason, False, money, refund_id, pending=True
        )

    async def _finish(
        self,
        session: AsyncSession,
        refund_id: int,
        refund: Refund,
        payment: Payment,
        answer: ProviderRefund | None,
        *,
        late: bool,
    ) -> PaymentReturned | None:
        """Done (what the provider gave back counted) or owed (no answer: made at the provider by hand), the
        charge and the order moved; None when another worker (or event) finished it first."""
        reason = ReturnReason(refund.reason)
        asked = refund.asked_minor or refund.amount_minor
        money = Money(_given(refund, answer), refund.currency)
        owed = answer is None
        refund_ref = answer.refund_ref if answer is not None else None
        finished = await finish_refund(
            session,
            refund_id=refund_id,
            status="owed" if owed else "done",
            refund_ref=refund_ref,
            amount_minor=money.minor,
            finished_at=utcnow() if late else None,
        )
        if not finished:
            return None
        payment = await _charge_after_refund(session, payment, asked=asked, given=money.minor, owed=owed)
        payment_id, actor_id = refund.payment_id, refund.actor_id
        detail: dict[str, Any] = {
            "payment_id": payment_id,
            "amount": money.minor,
            "currency": money.currency,
            "why": reason.value,
            "refund_ref": refund_ref,
        }
        await _order_after_refund(session, payment, owed=owed, actor_id=actor_id, detail=detail)
        fresh = await session.get(Payment, payment_id, populate_existing=True)
        order = await session.get(Order, payment.order_id, populate_existing=True)
        assert fresh is not None and order is not None
        await self.tellings.refunded(session, refund_id, fresh, pending=False, reason=refund.reason)
        return PaymentReturned(OrderInfo.of(order), PaymentInfo.of(fresh), reason, owed, money, refund_id)


def _given(refund: Refund, answer: ProviderRefund | None) -> int:
    """What the provider says it gives back, in the charge's currency (a provider answering in another
    currency is not believed on the amount)."""
    if answer is not None and answer.amount.currency == refund.currency and answer.amount.minor > 0:
        return answer.amount.minor
    return refund.asked_minor or refund.amount_minor


async def _charge_after_refund(
    session: AsyncSession, payment: Payment, *, asked: int, given: int, owed: bool
) -> Payment:
    """The charge with what the refund gave back counted, moved to refunded (or owed) once nothing is left."""
    payment_id = payment.id
    assert payment_id is not None
    if given < asked and payment.refunded_minor < payment.amount_minor:
        # A part came back short: only what the provider gave back is counted as refunded. (A whole
        # refund that came back short gave back all that was left: the rest went back outside daifu,
        # so the reservation of the whole stands.)
        await release_refund(session, payment_id=payment_id, part=asked - given)
        shorter = await session.get(Payment, payment_id, populate_existing=True)
        assert shorter is not None
        payment = shorter
    if payment.refunded_minor >= payment.amount_minor:
        await close_refunded(
            session,
            payment_id=payment_id,
            status=PaymentStatus.REFUND_OWED if owed else PaymentStatus.REFUNDED,
            refunded_at=None if owed else utcnow(),
        )
    return payment


async def _order_after_refund(
    session: AsyncSession, payment: Payment, *, owed: bool, actor_id: int | None, detail: dict[str, Any]
) -> None:
    """The order refunded when nothing credited to it is left with the shop; else the refund is an event on it."""
    kind = "refund_owed" if owed else "refunded_payment"
    moved = None
    if payment.credited and not owed and not await credited_left(session, order_id=payment.order_id):
        # Nothing credited to the order is left with the shop: the order is refunded.
        moved = await move(session, payment.order_id, OrderStatus.REFUNDED, actor_id=actor_id, **detail)
    if moved is None or not moved.done:
        await record_event(session, payment.order_id, kind, actor_id=actor_id, **detail)
        paid_order = await session.get(Order, payment.order_id)
        # A part of a paid order given back: the shop hears of it too. Chip-ins given back from an order
        # never paid (its request cancelled) are no news to the shop, which was never told it was paid.
        if payment.credited and not owed and paid_order is not None and paid_order.status == OrderStatus.PAID:
            await enqueue_callback(session, payment.order_id, "order.refunded")
