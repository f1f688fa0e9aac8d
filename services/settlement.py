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

from payments.base import (
    ChargeOutcome,
    NotSupported,
    PaymentError,
    PaymentEvent,
    PaymentProvider,
    RefundRequest,
    RefundStatus,
    refund_of,
)
from payments.base import Refund as ProviderRefund
from services.callback_outbox import enqueue_callback
from services.log_context import about
from services.metrics import PARKED, PAYMENTS
from services.money import Money
from services.notices import PaymentReturned, ReturnReason
from services.order_states import move, record_event
from services.orphan_charges import OrphanCharges
from services.parking import PARK_AFTER_ATTEMPTS, error_text
from services.telling import Tellings
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
# A provider answers a refund within seconds; one still pending after this long lost its worker mid-call.
RESUME_REFUNDS_AFTER = timedelta(minutes=2)
# A refund the provider is still working on is asked about again less and less often, but at least this often.
FOLLOW_REFUNDS_AT_MOST = timedelta(hours=1)

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


# daifu's refund key: the providers' idempotency key and refund number, and how their refund events name it.
REFUND_KEY_PREFIX = "daifu-refund-"


def _refund_id(refund_key: str | None) -> int | None:
    """The refund row a provider's refund key names, if it is one of daifu's keys."""
    number = (refund_key or "").removeprefix(REFUND_KEY_PREFIX)
    if refund_key is None or number == refund_key or not (number.isascii() and number.isdigit()):
        return None
    return int(number)


class Settlements:
    """The books of charges and refunds. Who must be told of each change is recorded with it (services.telling)."""

    def __init__(self, db: Database, providers: Mapping[str, PaymentProvider], tellings: Tellings) -> None:
        self.db = db
        self.providers = providers
        self.tellings = tellings
        self.orphans = OrphanCharges(db, providers, tellings)

    async def receive(self, event: PaymentEvent) -> None:
        """Apply the event, and give back money the order could not take."""
        if event.outcome == ChargeOutcome.REFUNDED:
            await self.follow_refund(event)
            return
        try:
            settlement = await self.apply(event)
        except UnknownCheckout:
            if event.outcome != ChargeOutcome.SUCCEEDED:
                raise
            # Money moved all the same: it is kept and told, never only logged.
            PAYMENTS.labels(event.provider, "orphan").inc()
            await self.orphans.receive(event)
            return
        PAYMENTS.labels(event.provider, settlement.applied.value).inc()
        request = settlement.request
        with about(order_id=settlement.order.id, request_id=request.id if request else None):
            await self._follow_up(settlement)

    async def _follow_up(self, settlement: Settlement) -> None:
        if settlement.applied == Applied.NOT_CREDITED and settlement.payment:
            assert settlement.payment.id is not None and settlement.reason is not None
            try:
                await self.refund(settlement.payment.id, reason=settlement.reason, actor_id=None, tell_failure=True)
            except PaymentError:
                # The charge stays recorded as succeeded and not credited: in plain sight for the admins (told
                # why), and refundable again later. The provider's notice itself was applied, so it is not failed.
                log.exception("automatic refund of payment %s failed", settlement.payment.id)

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
                    .values(status=PaymentStatus.DECLINED, declined_at=now)
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
                await self.tellings.declined(session, attempt)
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
                await self.tellings.paid(session, charge, order, request)
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
                asked_minor=part,
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
            answer = await self._ask_provider(payment, self._refund_request(payment, refund_id, money))
        except Exception as error:
            # The caller hears of it (the admin who asked sees why): nothing is left to tell, unless nobody asked.
            tell = str(error) if tell_failure and isinstance(error, PaymentError) else None
            await self._fail(refund_id, f"{type(error).__name__}: {error}", told=True, tell=tell)
            raise
        if answer is not None and answer.status == RefundStatus.FAILED:
            failed = PaymentError(f"{payment.provider} refund {answer.refund_ref} failed: {answer.failure or 'failed'}")
            await self._fail(
                refund_id, answer.failure or "failed", told=True, tell=str(failed) if tell_failure else None
            )
            raise failed
        returned = await self._record_refund(refund_id, answer, tell_pending=True)
        return returned if returned is not None else await self._as_recorded(refund_id)

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
        return PaymentReturned(order, payment, ReturnReason(refund.reason), owed, money, refund_id, pending=pending)

    @staticmethod
    def _refund_request(payment: Payment, refund_id: int, money: Money) -> RefundRequest:
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

    async def _ask_provider(self, payment: Payment, request: RefundRequest) -> ProviderRefund | None:
        """The provider's refund, or None when it cannot refund through daifu: the refund is owed instead."""
        try:
            return await self.providers[payment.provider].refund(request)
        except NotSupported:
            return None

    async def resume_refunds(self, limit: int = 20) -> None:
        """Refunds still pending a while after they were asked for: either their worker died during the provider
        call (with the part reserved on the charge), or the provider took them and has not finished. The first
        are asked for again under the same refund key (so money that did go back is not given twice), unless the
        provider may have forgotten the key by now: then, like the second, the provider is asked first what
        became of the refund. One worker per refund; a failure leaves it for a later round."""
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
        for refund_id in due:
            assert refund_id is not None
            try:
                await self._resume_one_refund(refund_id, now, lapsed)
            except Exception as error:  # each refund alone: the next ones are still resumed
                await self._count_failed_try(refund_id, error)
        await self.orphans.resume()

    async def _resume_one_refund(self, refund_id: int, now: datetime, lapsed: Any) -> None:
        async with self.db.transaction() as session:
            refund = await session.get(Refund, refund_id)
            assert refund is not None
            claimed = await session.exec(
                update(Refund)
                .where(col(Refund.id) == refund_id, col(Refund.status) == "pending", lapsed)
                .values(leased_until=now + self._follow_up_after(refund, now))
            )
            if claimed.rowcount != 1:
                return
            payment = await session.get(Payment, refund.payment_id)
            assert payment is not None
        await self._resume_refund(refund, payment, now)

    async def _count_failed_try(self, refund_id: int, error: Exception) -> None:
        """A try that raised (the provider unreachable, an answer not understood) is counted: after
        PARK_AFTER_ATTEMPTS the refund is parked, its money still reserved, for an admin to see in /providers.
        Asking about a refund the provider reports still pending is no failed try."""
        log.warning("refund %s is still pending: %s", refund_id, error)
        async with self.db.transaction() as session:
            await session.exec(
                update(Refund)
                .where(col(Refund.id) == refund_id)
                .values(attempts=col(Refund.attempts) + 1, last_error=error_text(error))
            )
            refund = await session.get(Refund, refund_id, populate_existing=True)
        if refund is not None and refund.attempts >= PARK_AFTER_ATTEMPTS:
            log.error("parked refund %s after %d tries; an admin sees it in /providers", refund_id, refund.attempts)
            PARKED.labels(kind="refund").inc()

    @staticmethod
    def _follow_up_after(refund: Refund, now: datetime) -> timedelta:
        """How long until a pending refund is looked at again: soon at first, then less often (a provider may
        take days over one), never less than RESUME_REFUNDS_AFTER nor more than FOLLOW_REFUNDS_AT_MOST."""
        return min(max(RESUME_REFUNDS_AFTER, (now - refund.created_at) / 10), FOLLOW_REFUNDS_AT_MOST)

    async def _resume_refund(self, refund: Refund, payment: Payment, now: datetime) -> None:
        assert refund.id is not None
        provider = self.providers[payment.provider]
        asked = Money(refund.asked_minor or refund.amount_minor, refund.currency)
        request = self._refund_request(payment, refund.id, asked)
        key_lasts: timedelta | None = getattr(provider, "refund_key_lasts", None)
        forgotten = key_lasts is not None and now - refund.created_at >= key_lasts
        answer: ProviderRefund | None = None
        asked_already = False
        if refund.provider_refund_ref is not None or forgotten:
            try:
                answer = await provider.query_refund(request, refund.provider_refund_ref)
                asked_already = True
            except NotSupported:
                pass
        if answer is None:
            if refund.provider_refund_ref is not None and asked_already:
                log.warning("refund %s (%s) is unknown to %s", refund.id, refund.provider_refund_ref, provider.name)
            answer = await self._ask_provider(payment, request)
        if answer is not None and answer.status == RefundStatus.FAILED:
            await self._fail(refund.id, answer.failure or "failed")
            return
        # Still pending with a reference the provider gave before: the admins were told it was pending then.
        await self._record_refund(refund.id, answer, late=True, tell_pending=refund.provider_refund_ref is None)

    async def follow_refund(self, event: PaymentEvent) -> None:
        """A provider's refund event: a refund daifu asked for succeeded or failed (or is still on its way).
        Applied once: only a refund still pending moves, so a repeated or late event changes nothing."""
        reported = refund_of(event)
        refund_id = _refund_id(reported.refund_key)
        async with self.db.transaction() as session:
            found = select(Refund).join(Payment, col(Payment.id) == col(Refund.payment_id))
            found = found.where(col(Payment.provider) == event.provider)
            if refund_id is not None:
                found = found.where(col(Refund.id) == refund_id, col(Payment.provider_ref) == event.charge_ref)
            else:
                found = found.where(col(Refund.provider_refund_ref) == reported.refund_ref)
            refund = (await session.exec(found)).first()
        if refund is None or refund.id is None:
            # Made outside daifu (in the provider's dashboard): the admins who made it know of it.
            log.info("%s refund %s is not one of daifu's", event.provider, reported.refund_ref)
            return
        if refund.status == "done" and reported.status == RefundStatus.FAILED:
            # Stripe may fail a refund it had reported succeeded (the payer's bank returned it): the books say
            # refunded, the money is not back. The admins must sort it out with the payer.
            log.error("%s refund %s failed after it succeeded: %s", event.provider, refund.id, reported.failure)
            await self._failed_after_done(refund, reported.failure or "failed")
            return
        if refund.status != "pending":
            return
        if reported.status == RefundStatus.FAILED:
            await self._fail(refund.id, reported.failure or "failed")
            return
        # Still pending: the admins heard it was pending when it was asked for.
        await self._record_refund(refund.id, reported, late=True, tell_pending=False)

    async def _failed_after_done(self, refund: Refund, why: str) -> None:
        async with self.db.transaction() as session:
            changed = await session.exec(
                update(Refund)
                .where(col(Refund.id) == refund.id, col(Refund.status) == "done")
                .values(status="failed", error=why[:1000], finished_at=utcnow())
            )
            if changed.rowcount != 1:
                return
            payment = await session.get(Payment, refund.payment_id)
            assert payment is not None and refund.id is not None
            await self.tellings.refund_failed(session, refund.id, payment, why, after_done=True)

    async def _fail(self, refund_id: int, why: str, *, told: bool = False, tell: str | None = None) -> None:
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

    async def _record_refund(
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
            # What the provider says it gives back, in the charge's currency (a provider answering in another
            # currency is not believed on the amount).
            given = asked
            if answer is not None and answer.amount.currency == refund.currency and answer.amount.minor > 0:
                given = answer.amount.minor
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
                return PaymentReturned(order, payment, reason, False, money, refund_id, pending=True)
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
            if given < asked and payment.refunded_minor < payment.amount_minor:
                # A part came back short: only what the provider gave back is counted as refunded. (A whole
                # refund that came back short gave back all that was left: the rest went back outside daifu,
                # so the reservation of the whole stands.)
                await session.exec(
                    update(Payment)
                    .where(col(Payment.id) == payment.id)
                    .values(refunded_minor=col(Payment.refunded_minor) - (asked - given))
                )
                payment = await session.get(Payment, refund.payment_id, populate_existing=True)
                assert payment is not None
            payment_id, actor_id = refund.payment_id, refund.actor_id
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
            await self.tellings.refunded(session, refund_id, fresh, pending=False)
        return PaymentReturned(order, fresh, reason, owed, money, refund_id)

    @staticmethod
    async def _credited_left(session: AsyncSession, order_id: int) -> int:
        kept = func.coalesce(func.sum(col(Payment.amount_minor) - col(Payment.refunded_minor)), 0)
        statement = select(kept).where(Payment.order_id == order_id, col(Payment.credited).is_(True))
        return int((await session.exec(statement)).one())
