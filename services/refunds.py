"""Giving a charge back through the provider that took it: the part reserved on the charge, the provider asked,
and its answer put on the books (services.refund_outcomes)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from payments.base import NotSupported, PaymentError, PaymentProvider, RefundRequest, RefundStatus
from payments.base import Refund as ProviderRefund
from services.money import Money
from services.notices import PaymentReturned, ReturnReason
from services.refund_outcomes import RefundOutcomes
from storage.database import Database
from storage.models import Payment, PaymentStatus, Refund
from storage.queries.charges import reserve_refund

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


async def ask_provider(provider: PaymentProvider, request: RefundRequest) -> ProviderRefund | None:
    """The provider's refund, or None when it cannot refund through daifu: the refund is owed instead."""
    try:
        return await provider.refund(request)
    except NotSupported:
        return None


class Refunds:
    """The refunds daifu asks providers for: each part reserved, asked for, and what the provider answered put on
    the books."""

    def __init__(self, db: Database, providers: Mapping[str, PaymentProvider], outcomes: RefundOutcomes) -> None:
        self.db = db
        self.providers = providers
        self.outcomes = outcomes

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
            answer = await ask_provider(self.providers[payment.provider], refund_request(payment, refund_id, money))
        except Exception as error:
            # The caller hears of it (the admin who asked sees why): nothing is left to tell, unless nobody asked.
            tell = str(error) if tell_failure and isinstance(error, PaymentError) else None
            await self.outcomes.fail(refund_id, f"{type(error).__name__}: {error}", told=True, tell=tell)
            raise
        if answer is not None and answer.status == RefundStatus.FAILED:
            failed = PaymentError(f"{payment.provider} refund {answer.refund_ref} failed: {answer.failure or 'failed'}")
            await self.outcomes.fail(
                refund_id, answer.failure or "failed", told=True, tell=str(failed) if tell_failure else None
            )
            raise failed
        returned = await self.outcomes.record(refund_id, answer, tell_pending=True)
        return returned if returned is not None else await self.outcomes.as_recorded(refund_id)

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
            reserved = await reserve_refund(session, payment_id=payment_id, part=part)
            if part <= 0 or not reserved:
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
