"""Applying a verified payment event to the books exactly once, and giving money back when it must.

Idempotency rests on the database: the (provider, provider_ref) pair is unique, the attempt is claimed
by a conditional update, and the order moves to paid only through services.order_states.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Update, bindparam
from sqlalchemy import update as core_update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from payments.base import ChargeOutcome, NotSupported, PaymentError, PaymentEvent, PaymentProvider, RefundRequest
from services.callback_outbox import enqueue_callback
from services.log_context import about
from services.metrics import PARKED, PAYMENTS
from services.money import Money
from services.notices import (
    ChippedIn,
    Notice,
    OrderPaid,
    PaymentDeclined,
    PaymentReturned,
    RequestChanged,
    ReturnReason,
)
from services.order_states import move, record_event
from services.parking import PARK_AFTER_ATTEMPTS, error_text
from services.tokens import new_token
from storage.database import Database, keep_in_step, run_core
from storage.models import (
    Order,
    OrderStatus,
    Payment,
    PaymentStatus,
    PayRequest,
    Refund,
    RequestMode,
    RequestStatus,
    utcnow,
)

log = logging.getLogger(__name__)
# A receipt is normally sent within a second of the charge; after this long it is taken to be lost.
TELL_AGAIN_AFTER = timedelta(minutes=1)
GIVE_UP_TELLING_AFTER = timedelta(days=1)
# A provider answers a refund within seconds; one still pending after this long lost its worker mid-call.
RESUME_REFUNDS_AFTER = timedelta(minutes=2)

# Built once: every payment reads them, and building a statement costs about as much CPU as SQLAlchemy's part
# of running it (bench.db_floor).
_ATTEMPT_TO_SETTLE = (
    select(Payment, Order, PayRequest)
    .join(Order, col(Order.id) == col(Payment.order_id))
    .outerjoin(PayRequest, col(PayRequest.id) == col(Payment.request_id))
    .where(col(Payment.checkout_ref) == bindparam("checkout_ref"), col(Payment.provider) == bindparam("provider"))
)
_CHARGE = select(Payment).where(
    col(Payment.provider) == bindparam("provider"), col(Payment.provider_ref) == bindparam("charge_ref")
)

# The writes every payment makes, on the tables (no object of the session is involved, or keep_in_step says
# what was written): built once.
_payments, _requests = Payment.__table__, PayRequest.__table__  # type: ignore[attr-defined]


@functools.cache
def _claim_charge(columns: tuple[str, ...]) -> Update:
    """The attempt becomes the charge, once: only while no charge was recorded on it."""
    return (
        core_update(_payments)
        .where(
            _payments.c.id == bindparam("w_id"),
            _payments.c.status.in_([PaymentStatus.PENDING.value, PaymentStatus.DECLINED.value]),
            _payments.c.provider_ref.is_(None),
        )
        .values({name: bindparam(f"v_{name}") for name in columns})
    )


# The request w_id, while it is open and not past its time at w_now (a condition of the writes that need it so).
STILL_OPEN = (
    _requests.c.id == bindparam("w_id"),
    _requests.c.status == RequestStatus.OPEN.value,
    _requests.c.expires_at > bindparam("w_now"),
)
# A chip-in counted into what the request has covered, only while that stays within the order's total.
_COVER_PART = (
    core_update(_requests)
    .where(*STILL_OPEN, _requests.c.covered_minor + bindparam("w_credit") <= bindparam("w_total"))
    .values(covered_minor=_requests.c.covered_minor + bindparam("w_credit"))
)
_RELEASE_OPEN_REQUEST = core_update(_requests).where(*STILL_OPEN).values(holder=None, holder_name=None, hold_until=None)
_REQUEST_PAID = (
    core_update(_requests).where(_requests.c.id == bindparam("w_id")).values(status=RequestStatus.PAID.value)
)
_TOLD = core_update(_payments).where(_payments.c.id == bindparam("w_id")).values(notified_at=bindparam("v_notified_at"))


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


class RefundRefused(Exception):
    pass


class Settlements:
    def __init__(self, db: Database, providers: Mapping[str, PaymentProvider]) -> None:
        self.db = db
        self.providers = providers

    async def receive(self, event: PaymentEvent) -> list[Notice]:
        """Apply the event, give back money the order could not take, and say who must be told what."""
        settlement = await self.apply(event)
        PAYMENTS.labels(event.provider, settlement.applied.value).inc()
        request = settlement.request
        with about(order_id=settlement.order.id, request_id=request.id if request else None):
            return await self._follow_up(settlement)

    async def _follow_up(self, settlement: Settlement) -> list[Notice]:
        request = settlement.request
        if settlement.applied == Applied.CREDITED and settlement.payment:
            if request is not None and request.status == RequestStatus.OPEN:
                return [ChippedIn(settlement.order, settlement.payment, request)]
            return [OrderPaid(settlement.order, settlement.payment, request)]
        if settlement.applied == Applied.DECLINED:
            payer = settlement.payment.payer_id if settlement.payment else None
            payment_id = settlement.payment.id if settlement.payment else None
            declined: list[Notice] = [PaymentDeclined(settlement.order, payer, payment_id)]
            if request is not None and request.id is not None:
                declined.append(RequestChanged(request.id))
            return declined
        if settlement.applied == Applied.NOT_CREDITED and settlement.payment:
            assert settlement.payment.id is not None and settlement.reason is not None
            try:
                return [await self.refund(settlement.payment.id, reason=settlement.reason, actor_id=None)]
            except PaymentError:
                # The charge stays recorded as succeeded and not credited: in plain sight for the admins,
                # and refundable again later. The provider's notice itself was applied, so it is not failed.
                log.exception("automatic refund of payment %s failed", settlement.payment.id)
        return []

    async def apply(self, event: PaymentEvent) -> Settlement:
        try:
            return await self._apply(event)
        except IntegrityError:
            # The same charge was recorded by a concurrent delivery of this notice.
            return await self._already_applied(event)

    async def _already_applied(self, event: PaymentEvent) -> Settlement:
        async with self.db.transaction() as session:
            charge = await self._charge(session, event)
            assert charge is not None
            order = await session.get(Order, charge.order_id)
        assert order is not None
        return Settlement(Applied.ALREADY_APPLIED, order, charge)

    @staticmethod
    async def _charge(session: AsyncSession, event: PaymentEvent) -> Payment | None:
        """The charge already recorded for this event, if any."""
        params = {"provider": event.provider, "charge_ref": event.charge_ref}
        return (await session.exec(_CHARGE, params=params)).first()

    async def _apply(self, event: PaymentEvent) -> Settlement:
        now = utcnow()
        async with self.db.transaction() as session:
            params = {"checkout_ref": event.checkout_ref, "provider": event.provider}
            found = (await session.exec(_ATTEMPT_TO_SETTLE, params=params)).first()
            if found is None:
                raise UnknownCheckout(event.checkout_ref)
            attempt, order = found[0], found[1]
            request: PayRequest | None = found[2]  # an outer join: None for an order's own checkout
            assert order.id is not None and attempt.id is not None
            if await self._charge(session, event) is not None:
                return Settlement(Applied.ALREADY_APPLIED, order, attempt)
            if event.outcome == ChargeOutcome.DECLINED:
                declined = await session.exec(
                    update(Payment)
                    .where(col(Payment.id) == attempt.id, col(Payment.status) == PaymentStatus.PENDING)
                    .values(status=PaymentStatus.DECLINED, declined_at=now, notified_at=None)
                )
                if declined.rowcount != 1:
                    # Paid, refunded or closed already: a late decline (events arrive out of order; closing
                    # a checkout makes the provider report it expired) is old news.
                    return Settlement(Applied.IGNORED, order, attempt)
                if request is not None:
                    # Whoever declined was paying: let the next friend try at once.
                    await session.exec(
                        update(PayRequest)
                        .where(col(PayRequest.id) == request.id, col(PayRequest.status) == RequestStatus.OPEN)
                        .values(holder=None, holder_name=None, hold_until=None)
                    )
                await record_event(session, order.id, "payment_declined", actor_id=attempt.payer_id)
                return Settlement(Applied.DECLINED, order, attempt, request=request)
            if event.outcome != ChargeOutcome.SUCCEEDED:
                return Settlement(Applied.IGNORED, order, attempt)

            payer_id = int(event.payer_ref) if event.payer_ref else attempt.payer_id
            # What the attempt asked for, read before the claim below rewrites the row's amount.
            asked = Money(attempt.amount_minor, attempt.currency)
            charge_values = {
                "status": PaymentStatus.SUCCEEDED,
                "provider_ref": event.charge_ref,
                "provider_charge_ref": event.extra.get("provider_charge_ref"),
                "settled_at": now,
                "notified_at": None,  # a declined attempt paid after all: its payer was told of the decline only
                "payer_id": payer_id,
                # What was actually charged: a refund gives back this, never what was asked for.
                "amount_minor": event.amount.minor,
                "currency": event.amount.currency,
                # Credited before the order moves, so the order.paid callback written with the move lists this
                # charge; taken back below if it could not be credited.
                "credited": True,
            }
            claim: dict[str, Any] = {
                "w_id": attempt.id,
                **{f"v_{name}": value for name, value in charge_values.items()},
            }
            claimed = await run_core(session, _claim_charge(tuple(charge_values)), claim)
            if claimed.rowcount == 1:
                keep_in_step(session, Payment, attempt.id, charge_values)
                charge_id = attempt.id
            else:
                # A second charge on one checkout (an invoice paid twice): its own row, so it can go back.
                extra = Payment(
                    order_id=order.id,
                    provider=event.provider,
                    checkout_ref=new_token(),
                    **charge_values,  # type: ignore[arg-type]
                )
                session.add(extra)
                await session.flush()
                assert extra.id is not None
                charge_id = extra.id

            reason: ReturnReason | None = None
            if event.amount != asked:
                reason = ReturnReason.AMOUNT_MISMATCH
            elif request is not None:
                reason = await self._credit_request(session, request, order, attempt, charge_id, payer_id)
            else:
                reason = await self._pay_order(session, order, charge_id, payer_id, event.provider)
            if reason is None:
                # Every change above matched its row (or it would have given a reason), and the session's
                # objects carry them: nothing to read again.
                charge = await session.get(Payment, charge_id)
                assert charge is not None
                return Settlement(Applied.CREDITED, order, charge, None, request)
            await session.exec(update(Payment).where(col(Payment.id) == charge_id).values(credited=False))
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
        if request.mode == RequestMode.SPLIT:
            credit = attempt.credit_minor or 0
            cover = {"w_id": request.id, "w_now": now, "w_credit": credit, "w_total": order.amount_minor}
            taken = await run_core(session, _COVER_PART, cover)
            if taken.rowcount != 1:
                return await self._why_request_refused(session, request)
            fresh = await session.get(PayRequest, request.id, populate_existing=True)
            assert fresh is not None
            if fresh.covered_minor < order.amount_minor:
                return None
            payer_id = None  # a split order has many payers: they are the request's contributions
        else:
            taken = await run_core(session, _RELEASE_OPEN_REQUEST, {"w_id": request.id, "w_now": now})
            if taken.rowcount != 1:
                return await self._why_request_refused(session, request)
            keep_in_step(session, PayRequest, request.id, {"holder": None, "holder_name": None, "hold_until": None})
        reason = await self._pay_order(session, order, charge_id, payer_id, attempt.provider)
        if reason is None:
            await run_core(session, _REQUEST_PAID, {"w_id": request.id})
            keep_in_step(session, PayRequest, request.id, {"status": RequestStatus.PAID})
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

    async def mark_told(self, payment_id: int) -> None:
        """The payer, the requester and the admins have been told of this charge."""
        async with self.db.alone() as connection:
            await connection.execute(_TOLD, {"w_id": payment_id, "v_notified_at": utcnow()})

    async def mark_decline_told(self, payment_id: int) -> None:
        """The payer has been told of this decline (unless the attempt was paid meanwhile: then the receipt is owed)."""
        async with self.db.transaction() as session:
            await session.exec(
                update(Payment)
                .where(col(Payment.id) == payment_id, col(Payment.status) == PaymentStatus.DECLINED)
                .values(notified_at=utcnow())
            )

    async def mark_refund_told(self, refund_id: int) -> None:
        """The payer and the admins have been told of this refund."""
        async with self.db.transaction() as session:
            await session.exec(update(Refund).where(col(Refund.id) == refund_id).values(notified_at=utcnow()))

    async def untold(self) -> list[Notice]:
        """Charges, refunds and declines of a while ago that nobody was told of (a worker died in between):
        tell them now.

        At least once: two workers may both tell, and a crash after telling but before marking tells again.
        """
        now = utcnow()
        due, too_old = now - TELL_AGAIN_AFTER, now - GIVE_UP_TELLING_AFTER
        notices: list[Notice] = []
        async with self.db.transaction() as session:
            charges = (
                await session.exec(
                    select(Payment, Order)
                    .join(Order, Order.id == Payment.order_id)  # type: ignore[arg-type]
                    .where(
                        col(Payment.credited).is_(True),
                        col(Payment.notified_at).is_(None),
                        col(Payment.settled_at) <= due,
                        col(Payment.settled_at) > too_old,
                    )
                    .limit(100)
                )
            ).all()
            for payment, order in charges:
                try:  # each alone: one that cannot be told must not keep the others untold
                    request = await session.get(PayRequest, payment.request_id) if payment.request_id else None
                    if request is not None and request.status == RequestStatus.OPEN:
                        notices.append(ChippedIn(order, payment, request))
                    else:
                        notices.append(OrderPaid(order, payment, request))
                except Exception:
                    log.exception("could not tell of charge %s", payment.id)
            refunds = (
                await session.exec(
                    select(Refund, Payment, Order)
                    .join(Payment, Payment.id == Refund.payment_id)  # type: ignore[arg-type]
                    .join(Order, Order.id == Payment.order_id)  # type: ignore[arg-type]
                    .where(
                        col(Refund.status).in_(["done", "owed"]),
                        col(Refund.notified_at).is_(None),
                        col(Refund.created_at) <= due,
                        col(Refund.created_at) > too_old,
                    )
                    .order_by(col(Refund.id))
                    .limit(100)
                )
            ).all()
            for refund, payment, order in refunds:
                try:
                    money = Money(refund.amount_minor, refund.currency)
                    reason = ReturnReason(refund.reason)
                    notices.append(PaymentReturned(order, payment, reason, refund.status == "owed", money, refund.id))
                except Exception:
                    log.exception("could not tell of refund %s", refund.id)
            declines = (
                await session.exec(
                    select(Payment, Order)
                    .join(Order, Order.id == Payment.order_id)  # type: ignore[arg-type]
                    .where(
                        col(Payment.status) == PaymentStatus.DECLINED,
                        col(Payment.notified_at).is_(None),
                        col(Payment.declined_at) <= due,
                        col(Payment.declined_at) > too_old,
                    )
                    .limit(100)
                )
            ).all()
            for payment, order in declines:
                notices.append(PaymentDeclined(order, payment.payer_id, payment.id))
                if payment.request_id is not None:
                    notices.append(RequestChanged(payment.request_id))
        return notices

    async def refund(
        self, payment_id: int, *, reason: ReturnReason, actor_id: int | None, amount: Money | None = None
    ) -> PaymentReturned:
        """Give a charge back (all that is left of it, or `amount`) through the provider that took it.

        The part is reserved on the charge first by one conditional UPDATE, so concurrent refunds can never
        give back more than was paid; if the provider call fails the reservation is released.
        """
        async with self.db.transaction() as session:
            payment = await session.get(Payment, payment_id)
            if payment is None or payment.status != PaymentStatus.SUCCEEDED or payment.provider_ref is None:
                raise RefundRefused("this payment is not refundable in its current state")
            part = amount.minor if amount is not None else payment.amount_minor - payment.refunded_minor
            if amount is not None and amount.currency != payment.currency:
                raise RefundRefused(f"the payment was made in {payment.currency}")
            provider = self.providers[payment.provider]
            whole = part == payment.amount_minor - payment.refunded_minor == payment.amount_minor
            if not whole and not getattr(provider, "partial_refunds", True):
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
                currency=payment.currency,
                status="pending",
                reason=reason.value,
                actor_id=actor_id,
            )
            session.add(record)
            await session.flush()
            assert record.id is not None
            refund_id = record.id
        money = Money(part, payment.currency)
        try:
            refund_ref, owed = await self._ask_provider(payment, refund_id, money)
        except Exception:
            async with self.db.transaction() as session:
                await session.exec(
                    update(Payment)
                    .where(col(Payment.id) == payment_id)
                    .values(refunded_minor=col(Payment.refunded_minor) - part)
                )
                await session.exec(update(Refund).where(col(Refund.id) == refund_id).values(status="failed"))
            raise
        return await self._record_refund(payment_id, refund_id, refund_ref, owed, reason, actor_id, money)

    async def _ask_provider(self, payment: Payment, refund_id: int, money: Money) -> tuple[str | None, bool]:
        """The provider's refund: (its reference, whether it is owed instead). The refund key is daifu's id for
        the refund, so asking again after a crash gives back the money once (the providers dedupe on it)."""
        assert payment.provider_ref is not None
        request = RefundRequest(
            charge_ref=payment.provider_ref,
            amount=money,
            charge_amount=Money(payment.amount_minor, payment.currency),
            refund_key=f"daifu-refund-{refund_id}",
            payer_ref=str(payment.payer_id) if payment.payer_id is not None else None,
        )
        try:
            return (await self.providers[payment.provider].refund(request)).refund_ref, False
        except NotSupported:
            return None, True

    async def resume_refunds(self, limit: int = 20) -> list[Notice]:
        """Refunds still pending a while after they were asked for: their worker died during the provider call,
        with the part reserved on the charge. The provider is asked again under the same refund key (so money
        that did go back is not given twice), one worker per refund; a failure leaves it for the next round."""
        now = utcnow()
        lapsed = (col(Refund.leased_until).is_(None)) | (col(Refund.leased_until) <= now)
        async with self.db.transaction() as session:
            due = (
                await session.exec(
                    select(Refund.id)
                    .where(
                        col(Refund.status) == "pending",
                        col(Refund.created_at) <= now - RESUME_REFUNDS_AFTER,
                        lapsed,
                        col(Refund.attempts) < PARK_AFTER_ATTEMPTS,  # parked: left for an admin (/providers)
                    )
                    .order_by(col(Refund.id))
                    .limit(limit)
                )
            ).all()
        notices: list[Notice] = []
        for refund_id in due:
            assert refund_id is not None
            try:
                notices += await self._resume_refund(refund_id, now, lapsed)
            except Exception as error:  # each refund alone: the next ones are still resumed
                log.exception("resuming refund %s failed; it stays pending", refund_id)
                async with self.db.transaction() as session:
                    await session.exec(
                        update(Refund).where(col(Refund.id) == refund_id).values(last_error=error_text(error))
                    )
        return notices

    async def _resume_refund(self, refund_id: int, now: datetime, lapsed: Any) -> list[Notice]:
        async with self.db.transaction() as session:
            claimed = await session.exec(
                update(Refund)
                .where(col(Refund.id) == refund_id, col(Refund.status) == "pending", lapsed)
                .values(leased_until=now + RESUME_REFUNDS_AFTER, attempts=col(Refund.attempts) + 1)
            )
            if claimed.rowcount != 1:
                return []
            refund = await session.get(Refund, refund_id)
            assert refund is not None
            payment = await session.get(Payment, refund.payment_id)
            assert payment is not None
        money = Money(refund.amount_minor, refund.currency)
        try:
            refund_ref, owed = await self._ask_provider(payment, refund_id, money)
        except Exception as error:
            log.warning("refund %s is still pending: the provider said %s", refund_id, error)
            if refund.attempts >= PARK_AFTER_ATTEMPTS:
                log.error("parked refund %s after %d tries; an admin sees it in /providers", refund_id, refund.attempts)
                PARKED.labels(kind="refund").inc()
            async with self.db.transaction() as session:
                await session.exec(
                    update(Refund).where(col(Refund.id) == refund_id).values(last_error=error_text(error))
                )
            return []
        return [
            await self._record_refund(
                refund.payment_id, refund_id, refund_ref, owed, ReturnReason(refund.reason), refund.actor_id, money
            )
        ]

    async def _record_refund(
        self,
        payment_id: int,
        refund_id: int,
        refund_ref: str | None,
        owed: bool,
        reason: ReturnReason,
        actor_id: int | None,
        money: Money,
    ) -> PaymentReturned:
        async with self.db.transaction() as session:
            await session.exec(
                update(Refund)
                .where(col(Refund.id) == refund_id)
                .values(status="owed" if owed else "done", provider_refund_ref=refund_ref)
            )
            payment = await session.get(Payment, payment_id, populate_existing=True)
            assert payment is not None
            if payment.refunded_minor >= payment.amount_minor:
                await session.exec(
                    update(Payment)
                    .where(col(Payment.id) == payment_id)
                    .values(
                        status=PaymentStatus.REFUND_OWED if owed else PaymentStatus.REFUNDED,
                        refunded_at=None if owed else utcnow(),
                    )
                )
            kind = "refund_owed" if owed else "refunded_payment"
            detail: dict[str, Any] = {
                "payment_id": payment_id,
                "amount": money.minor,
                "currency": money.currency,
                "why": reason.value,
                "refund_ref": refund_ref,
            }
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
            fresh = await session.get(Payment, payment_id, populate_existing=True)
            order = await session.get(Order, payment.order_id, populate_existing=True)
        assert fresh is not None and order is not None
        return PaymentReturned(order, fresh, reason, owed, money, refund_id)

    @staticmethod
    async def _credited_left(session: AsyncSession, order_id: int) -> int:
        kept = func.coalesce(func.sum(col(Payment.amount_minor) - col(Payment.refunded_minor)), 0)
        statement = select(kept).where(Payment.order_id == order_id, col(Payment.credited).is_(True))
        return int((await session.exec(statement)).one())
