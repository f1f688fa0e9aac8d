"""Giving a charge back through the provider that took it: the part reserved, the provider asked, its answer on
the books (done, pending, owed) or the refund failed and its reservation released."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlmodel import col, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from payments.base import NotSupported, PaymentError, PaymentProvider, RefundRequest, RefundStatus
from payments.base import Refund as ProviderRefund
from services.callback_outbox import enqueue_callback
from services.money import Money
from services.notices import PaymentReturned, ReturnReason
from services.order_states import move, record_event
from services.read_models import OrderInfo, PaymentInfo
from services.telling import Tellings
from storage.database import Database
from storage.models import Order, OrderStatus, Payment, PaymentStatus, Refund, utcnow

log = logging.getLogger(__name__)


class RefundRefused(Exception):
    pass


# daifu's refund key: the providers' idempotency key and refund number, and how their refund events name it.
REFUND_KEY_PREFIX = "daifu-refund-"


def refund_request(payment: Payment, refund_id: int, money: Money) -> RefundRequest:
    """The refund key is daifu's id for the refund, so asking again after a crash gives back the money once
    (the providers dedupe on it, and it names the refund when the provider is asked about it)."""
    assert payment.provider_ref is not None
    return RefundRequest(
        charge_ref=payment.provider_ref,
        amount=money,
        charge_amount=Money(payment.amount_minor, payment.currency),
        refund_key=f"{REFUND_KEY_PREFIX}{refund_id}",
        payer_ref=str(payment.payer_id) if payment.payer_id is not None else None,
    )


class Refunds:
    """The refunds daifu asks providers for, and what becomes of each on the books.
    Who must be told of each change is recorded with it (services.telling)."""

    def __init__(self, db: Database, providers: Mapping[str, PaymentProvider], tellings: Tellings) -> None:
        self.db = db
        self.providers = providers
        self.tellings = tellings

    async def refund(
        self,
        payment_id: int,
        *,
        reason: ReturnReason,
        actor_id: int | None,
        amount: Money | None = None,
        tell_failure: bool = False,
    ) -> PaymentReturned:
        """Give a charge back (all that is left of it, or `amount`) through the provider that took it.

        The part is reserved on the charge first by one conditional UPDATE, so concurrent refunds can never
        give back more than was paid; if the provider call fails, or the provider says the refund failed, the
        reservation is released and PaymentError raised (the caller answers whoever asked; tell_failure: nobody
        asked, so the admins are told why). A refund the provider took but has not finished comes back pending
        (only the admins hear of it); it is followed by the provider's refund events or by asking.
        """
        payment, refund_id, money = await self._reserve(payment_id, reason=reason, actor_id=actor_id, amount=amount)
        try:
            answer = await self.ask_provider(payment, refund_request(payment, refund_id, money))
        except Exception as error:
            # The caller hears of it (the admin who asked sees why): nothing is left to tell, unless nobody asked.
            tell = str(error) if tell_failure and isinstance(error, PaymentError) else None
            await self.fail(refund_id, f"{type(error).__name__}: {error}", told=True, tell=tell)
            raise
        if answer is not None and answer.status == RefundStatus.FAILED:
            failed = PaymentError(f"{payment.provider} refund {answer.refund_ref} failed: {answer.failure or 'failed'}")
            await self.fail(
                refund_id, answer.failure or "failed", told=True, tell=str(failed) if tell_failure else None
            )
            raise failed
        returned = await self.record(refund_id, answer, tell_pending=True)
        return returned if returned is not None else await self._as_recorded(refund_id)

    async def _reserve(
        self, payment_id: int, *, reason: ReturnReason, actor_id: int | None, amount: Money | None
    ) -> tuple[Payment, int, Money]:
        """The part reserved on the charge and a pending refund recorded for it, or RefundRefused."""
        async with self.db.transaction() as session:
            payment = await session.get(Payment, payment_id)
            if payment is None or payment.status != PaymentStatus.SUCCEEDED or payment.provider_ref is None:
                raise RefundRefused("this payment is not refundable in its current state")
            part = amount.minor if amount is not None else payment.amount_minor - payment.refunded_minor
            if amount is not None and amount.currency != payment.currency:
                raise RefundRefused(f"the payment was made in {payment.currency}")
            provider = self.providers[payment.provider]
            whole = part == payment.amount_minor - payment.refunded_minor == payment.amount_minor
            if not whole and not provider.capabilities.partial_refunds:
                raise RefundRefused(f"{payment.provider} refunds a payment whole, never a part")
            reserved = await session.exec(
                update(Payment)
                .where(
                    col(Payment.id) == payment_id,
                    col(Payment.status) == PaymentStatus.SUCCEEDED,
                    col(Payment.refunded_minor) + part <= col(Payment.amount_minor),
                )
                .values(refunded_minor=col(Payment.refunded_minor) + part)
            )
            if part <= 0 or reserved.rowcount != 1:
                raise RefundRefused("that is more than is left to refund")
            record = Refund(
                payment_id=payment_id,
                amount_minor=part,
                asked_minor=part,
                currency=payment.currency,
                status="pending",
                reason=reason.value,
                actor_id=actor_id,
            )
            session.add(record)
            await session.flush()
            assert record.id is not None
            return payment, record.id, Money(part, payment.currency)

    async def _as_recorded(self, refund_id: int) -> PaymentReturned:
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

    async def ask_provider(self, payment: Payment, request: RefundRequest) -> ProviderRefund | None:
        """The provider's refund, or None when it cannot refund through daifu: the refund is owed instead."""
        try:
            return await self.providers[payment.provider].refund(request)
        except NotSupported:
            return None

    async def fail(self, refund_id: int, why: str, *, told: bool = False, tell: str | None = None) -> None:
        """The refund did not go back: its reservation on the charge is released, so it can be asked again.
        Once: only a refund still pending fails. The admins are told why (tell, if given, in those words), unless
        whoever asked for it heard why already (told)."""
        now = utcnow()
        async with self.db.transaction() as session:
            refund = await session.get(Refund, refund_id)
            assert refund is not None
            failed = await session.exec(
                update(Refund)
                .where(col(Refund.id) == refund_id, col(Refund.status) == "pending")
                .values(status="failed", error=why[:1000], finished_at=None if told else now)
            )
            if failed.rowcount != 1:
                return
            asked = refund.asked_minor or refund.amount_minor
            await session.exec(
                update(Payment)
                .where(col(Payment.id) == refund.payment_id)
                .values(refunded_minor=col(Payment.refunded_minor) - asked)
            )
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
            reason = ReturnReason(refund.reason)
            asked = refund.asked_minor or refund.amount_minor
            given = self._given(refund, answer)
            money = Money(given, refund.currency)
            if answer is not None and answer.status == RefundStatus.PENDING:
                await session.exec(
                    update(Refund)
                    .where(col(Refund.id) == refund_id, col(Refund.status) == "pending")
                    .values(provider_refund_ref=answer.refund_ref, amount_minor=given)
                )
                order = await session.get(Order, payment.order_id)
                assert order is not None
                if tell_pending:
                    await self.tellings.refunded(session, refund_id, payment, pending=True)
                return PaymentReturned(
                    OrderInfo.of(order), PaymentInfo.of(payment), reason, False, money, refund_id, pending=True
                )
            owed = answer is None
            refund_ref = answer.refund_ref if answer is not None else None
            finished = await session.exec(
                update(Refund)
                .where(col(Refund.id) == refund_id, col(Refund.status) == "pending")
                .values(
                    status="owed" if owed else "done",
                    provider_refund_ref=refund_ref,
                    amount_minor=given,
                    finished_at=utcnow() if late else None,
                )
            )
            if finished.rowcount != 1:
                return None
            payment = await self._charge_after_refund(session, refund, payment, asked=asked, given=given, owed=owed)
            payment_id, actor_id = refund.payment_id, refund.actor_id
            detail: dict[str, Any] = {
                "payment_id": payment_id,
                "amount": money.minor,
                "currency": money.currency,
                "why": reason.value,
                "refund_ref": refund_ref,
            }
            await self._order_after_refund(session, payment, owed=owed, actor_id=actor_id, detail=detail)
            fresh = await session.get(Payment, payment_id, populate_existing=True)
            order = await session.get(Order, payment.order_id, populate_existing=True)
            assert fresh is not None and order is not None
            await self.tellings.refunded(session, refund_id, fresh, pending=False)
            return PaymentReturned(OrderInfo.of(order), PaymentInfo.of(fresh), reason, owed, money, refund_id)

    @staticmethod
    def _given(refund: Refund, answer: ProviderRefund | None) -> int:
        """What the provider says it gives back, in the charge's currency (a provider answering in another
        currency is not believed on the amount)."""
        if answer is not None and answer.amount.currency == refund.currency and answer.amount.minor > 0:
            return answer.amount.minor
        return refund.asked_minor or refund.amount_minor

    @staticmethod
    async def _charge_after_refund(
        session: AsyncSession, refund: Refund, payment: Payment, *, asked: int, given: int, owed: bool
    ) -> Payment:
        """The charge with what the refund gave back counted, moved to refunded (or owed) once nothing is left."""
        if given < asked and payment.refunded_minor < payment.amount_minor:
            # A part came back short: only what the provider gave back is counted as refunded. (A whole
            # refund that came back short gave back all that was left: the rest went back outside daifu,
            # so the reservation of the whole stands.)
            await session.exec(
                update(Payment)
                .where(col(Payment.id) == payment.id)
                .values(refunded_minor=col(Payment.refunded_minor) - (asked - given))
            )
            shorter = await session.get(Payment, refund.payment_id, populate_existing=True)
            assert shorter is not None
            payment = shorter
        if payment.refunded_minor >= payment.amount_minor:
            await session.exec(
                update(Payment)
                .where(col(Payment.id) == payment.id)
                .values(
                    status=PaymentStatus.REFUND_OWED if owed else PaymentStatus.REFUNDED,
                    refunded_at=None if owed else utcnow(),
                )
            )
        return payment

    async def _order_after_refund(
        self, session: AsyncSession, payment: Payment, *, owed: bool, actor_id: int | None, detail: dict[str, Any]
    ) -> None:
        """The order refunded when nothing credited to it is left with the shop; else the refund is an event on it."""
        kind = "refund_owed" if owed else "refunded_payment"
        moved = None
        if payment.credited and not owed and not await self._credited_left(session, payment.order_id):
            # Nothing credited to the order is left with the shop: the order is refunded.
            moved = await move(session, payment.order_id, OrderStatus.REFUNDED, actor_id=actor_id, **detail)
        if moved is None or not moved.done:
            await record_event(session, payment.order_id, kind, actor_id=actor_id, **detail)
            paid_order = await session.get(Order, payment.order_id)
            # A part of a paid order given back: the shop hears of it too. Chip-ins given back from an order
            # never paid (its request cancelled) are no news to the shop, which was never told it was paid.
            if payment.credited and not owed and paid_order is not None and paid_order.status == OrderStatus.PAID:
                await enqueue_callback(session, payment.order_id, "order.refunded")

    @staticmethod
    async def _credited_left(session: AsyncSession, order_id: int) -> int:
        kept = func.coalesce(func.sum(col(Payment.amount_minor) - col(Payment.refunded_minor)), 0)
        statement = select(kept).where(Payment.order_id == order_id, col(Payment.credited).is_(True))
        return int((await session.exec(statement)).one())
