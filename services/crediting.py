"""Crediting a verified payment event to the books exactly once: the charge recorded, the order or request paid.

Idempotency rests on the database: the (provider, provider_ref) pair is unique, the attempt is claimed
by a conditional update, and the order moves to paid only through services.order_states.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from payments.base import ChargeOutcome, PaymentEvent
from services.money import Money
from services.notices import ReturnReason
from services.order_states import move, record_event
from services.telling import Tellings
from services.tokens import new_token
from storage.database import Database
from storage.models import (
    Order,
    OrderStatus,
    Payment,
    PaymentStatus,
    PayRequest,
    RequestMode,
    RequestStatus,
    utcnow,
)
from storage.queries.crediting import (
    attempt_to_settle,
    claim_charge,
    cover_part,
    decline_attempt,
    mark_request_paid,
    recorded_charge,
    release_open_request,
    release_request_hold,
    uncredit_charge,
)


class UnknownCheckout(Exception):
    """A notice names a checkout daifu never opened with that provider."""


class Applied(StrEnum):
    CREDITED = "credited"
    NOT_CREDITED = "not_credited"  # money moved but the order could not take it: it must go back
    ALREADY_APPLIED = "already_applied"
    DECLINED = "declined"
    IGNORED = "ignored"


@dataclass(frozen=True, slots=True)
class Settlement:
    applied: Applied
    order: Order
    payment: Payment | None = None
    reason: ReturnReason | None = None
    request: PayRequest | None = None


class Crediting:
    """Applies a charge or a decline to its attempt, and credits the money to the order or the request.
    Who must be told of each change is recorded with it (services.telling)."""

    def __init__(self, db: Database, tellings: Tellings) -> None:
        self.db = db
        self.tellings = tellings

    async def apply(self, event: PaymentEvent) -> Settlement:
        try:
            return await self._apply(event)
        except IntegrityError:
            # The same charge was recorded by a concurrent delivery of this notice.
            return await self._already_applied(event)

    async def _already_applied(self, event: PaymentEvent) -> Settlement:
        async with self.db.transaction() as session:
            charge = await recorded_charge(session, provider=event.provider, charge_ref=event.charge_ref)
            assert charge is not None
            order = await session.get(Order, charge.order_id)
        assert order is not None
        return Settlement(Applied.ALREADY_APPLIED, order, charge)

    async def _apply(self, event: PaymentEvent) -> Settlement:
        now = utcnow()
        async with self.db.transaction() as session:
            found = await attempt_to_settle(session, checkout_ref=event.checkout_ref, provider=event.provider)
            if found is None:
                raise UnknownCheckout(event.checkout_ref)
            attempt, order, request = found
            assert order.id is not None and attempt.id is not None
            if await recorded_charge(session, provider=event.provider, charge_ref=event.charge_ref) is not None:
                return Settlement(Applied.ALREADY_APPLIED, order, attempt)
            if event.outcome == ChargeOutcome.DECLINED:
                return await self._decline(session, attempt, order, request, now)
            if event.outcome != ChargeOutcome.SUCCEEDED:
                return Settlement(Applied.IGNORED, order, attempt)
            payer_id = int(event.payer_ref) if event.payer_ref else attempt.payer_id
            # What the attempt asked for, read before the claim rewrites the row's amount.
            asked = Money(attempt.amount_minor, attempt.currency)
            charge_id = await self._record_charge(session, event, attempt, payer_id, now)
            reason: ReturnReason | None = None
            if event.amount != asked:
                reason = ReturnReason.AMOUNT_MISMATCH
            elif request is not None:
                reason = await self._credit_request(session, request, order, attempt, charge_id, payer_id)
            else:
                reason = await self._pay_order(session, order, charge_id, payer_id, event.provider)
            if reason is None:
                return await self._credited(session, order, charge_id, request)
            return await self._not_credited(session, order, charge_id, payer_id, reason, request)

    async def _decline(
        self, session: AsyncSession, attempt: Payment, order: Order, request: PayRequest | None, now: datetime
    ) -> Settlement:
        assert order.id is not None
        assert attempt.id is not None
        if not await decline_attempt(session, attempt_id=attempt.id, now=now):
            # Paid, refunded or closed already: a late decline (events arrive out of order; closing
            # a checkout makes the provider report it expired) is old news.
            return Settlement(Applied.IGNORED, order, attempt)
        if request is not None:
            # Whoever declined was paying: let the next friend try at once.
            assert request.id is not None
            await release_request_hold(session, request_id=request.id)
        await record_event(session, order.id, "payment_declined", actor_id=attempt.payer_id)
        await self.tellings.declined(session, attempt)
        return Settlement(Applied.DECLINED, order, attempt, request=request)

    @staticmethod
    async def _record_charge(
        session: AsyncSession,
        event: PaymentEvent,
        attempt: Payment,
        payer_id: int | None,
        now: datetime,
    ) -> int:
        """The charge on the books, credited until shown otherwise: the attempt claimed, or a row of its own."""
        charge_values = {
            "status": PaymentStatus.SUCCEEDED,
            "provider_ref": event.charge_ref,
            "provider_charge_ref": event.extra.get("provider_charge_ref"),
            "settled_at": now,
            "payer_id": payer_id,
            # What was actually charged: a refund gives back this, never what was asked for.
            "amount_minor": event.amount.minor,
            "currency": event.amount.currency,
            # Credited before the order moves, so the order.paid callback written with the move lists this
            # charge; taken back if it could not be credited.
            "credited": True,
        }
        assert attempt.id is not None
        if await claim_charge(session, attempt_id=attempt.id, values=charge_values):
            return attempt.id
        # A second charge on one checkout (an invoice paid twice): its own row, so it can go back.
        extra = Payment(
            order_id=attempt.order_id,
            provider=event.provider,
            checkout_ref=new_token(),
            **charge_values,  # type: ignore[arg-type]
        )
        session.add(extra)
        await session.flush()
        assert extra.id is not None
        return extra.id

    async def _credited(
        self, session: AsyncSession, order: Order, charge_id: int, request: PayRequest | None
    ) -> Settlement:
        # Every change matched its row (or it would have given a reason), and the session's objects carry them:
        # nothing to read again.
        charge = await session.get(Payment, charge_id)
        assert charge is not None
        await self.tellings.paid(session, charge, order, request)
        return Settlement(Applied.CREDITED, order, charge, None, request)

    @staticmethod
    async def _not_credited(
        session: AsyncSession,
        order: Order,
        charge_id: int,
        payer_id: int | None,
        reason: ReturnReason,
        request: PayRequest | None,
    ) -> Settlement:
        assert order.id is not None
        await uncredit_charge(session, charge_id=charge_id)
        await record_event(
            session,
            order.id,
            "payment_not_credited",
            actor_id=payer_id,
            payment_id=charge_id,
            why=reason,
        )
        # Not credited: another payment or worker got there first, so read what it left.
        charge = await session.get(Payment, charge_id, populate_existing=True)
        fresh_order = await session.get(Order, order.id, populate_existing=True)
        if request is not None:
            request = await session.get(PayRequest, request.id, populate_existing=True)
        assert charge is not None and fresh_order is not None
        return Settlement(Applied.NOT_CREDITED, fresh_order, charge, reason, request)

    @staticmethod
    async def _pay_order(
        session: AsyncSession, order: Order, charge_id: int, payer_id: int | None, provider: str
    ) -> ReturnReason | None:
        assert order.id is not None
        moved = await move(
            session,
            order.id,
            OrderStatus.PAID,
            actor_id=payer_id,
            values={"payer_id": payer_id, "paid_at": utcnow()},
            payment_id=charge_id,
            provider=provider,
        )
        if moved.done:
            return None
        if moved.status in (OrderStatus.PAID, OrderStatus.REFUNDED):
            return ReturnReason.ALREADY_PAID
        return ReturnReason.ORDER_CLOSED

    async def _credit_request(
        self,
        session: AsyncSession,
        request: PayRequest,
        order: Order,
        attempt: Payment,
        charge_id: int,
        payer_id: int | None,
    ) -> ReturnReason | None:
        """Credit a friend's payment to a request: all of it (single), or a part of it (split)."""
        now = utcnow()
        assert request.id is not None
        if request.mode == RequestMode.SPLIT:
            credit = attempt.credit_minor or 0
            if not await cover_part(session, request_id=request.id, now=now, credit=credit, total=order.amount_minor):
                return await self._why_request_refused(session, request)
            fresh = await session.get(PayRequest, request.id, populate_existing=True)
            assert fresh is not None
            if fresh.covered_minor < order.amount_minor:
                return None
            payer_id = None  # a split order has many payers: they are the request's contributions
        else:
            if not await release_open_request(session, request_id=request.id, now=now):
                return await self._why_request_refused(session, request)
        reason = await self._pay_order(session, order, charge_id, payer_id, attempt.provider)
        if reason is None:
            await mark_request_paid(session, request_id=request.id)
        return reason

    @staticmethod
    async def _why_request_refused(session: AsyncSession, request: PayRequest) -> ReturnReason:
        fresh = await session.get(PayRequest, request.id, populate_existing=True)
        assert fresh is not None
        if fresh.status == RequestStatus.PAID:
            return ReturnReason.ALREADY_PAID
        if fresh.status == RequestStatus.CANCELLED:
            return ReturnReason.REQUEST_CANCELLED
        if fresh.status == RequestStatus.EXPIRED or fresh.expires_at <= utcnow():
            # Past its time is expired, whether or not the expiry job has been round yet.
            return ReturnReason.REQUEST_EXPIRED
        return ReturnReason.COVERED  # still open: the chip-in would have paid more than the order
