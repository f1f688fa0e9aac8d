"""Resuming refunds left pending: asked for again under the same key, or the provider asked what became of them."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from payments.base import NotSupported, PaymentProvider, RefundStatus
from payments.base import Refund as ProviderRefund
from services.metrics import PARKED
from services.money import Money
from services.orphan_charges import OrphanCharges
from services.parking import PARK_AFTER_ATTEMPTS, error_text
from services.refund_outcomes import RefundOutcomes
from services.refunds import ask_provider, refund_request
from storage.database import Database
from storage.models import Payment, Refund, utcnow
from storage.queries.refunds import count_failed_try, lease_refund, pending_refunds_due

log = logging.getLogger(__name__)
RESUME_REFUNDS_AFTER = timedelta(minutes=2)
# A refund the provider is still working on is asked about again less and less often, but at least this often.
FOLLOW_REFUNDS_AT_MOST = timedelta(hours=1)


class RefundResumption:
    """The refunds (and the orphan charges) a worker left unfinished, taken up again by the expiry job."""

    def __init__(
        self,
        db: Database,
        providers: Mapping[str, PaymentProvider],
        outcomes: RefundOutcomes,
        orphans: OrphanCharges,
    ) -> None:
        self.db = db
        self.providers = providers
        self.outcomes = outcomes
        self.orphans = orphans

    async def resume_refunds(self, limit: int = 20) -> None:
        """Refunds still pending a while after they were asked for: either their worker died during the provider
        call (with the part reserved on the charge), or the provider took them and has not finished. The first
        are asked for again under the same refund key (so money that did go back is not given twice), unless the
        provider may have forgotten the key by now: then, like the second, the provider is asked first what
        became of the refund. One worker per refund; a failure leaves it for a later round."""
        now = utcnow()
        async with self.db.transaction() as session:
            due = await pending_refunds_due(
                session,
                now=now,
                asked_before=now - RESUME_REFUNDS_AFTER,
                max_attempts=PARK_AFTER_ATTEMPTS,  # parked: left for an admin (/providers)
                limit=limit,
            )
        for refund_id in due:
            try:
                await self._resume_one_refund(refund_id, now)
            except Exception as error:  # each refund alone: the next ones are still resumed
                await self._count_failed_try(refund_id, error)
        await self.orphans.resume()

    async def _resume_one_refund(self, refund_id: int, now: datetime) -> None:
        async with self.db.transaction() as session:
            refund = await session.get(Refund, refund_id)
            assert refund is not None
            until = now + self._follow_up_after(refund, now)
            if not await lease_refund(session, refund_id=refund_id, now=now, until=until):
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
            await count_failed_try(session, refund_id=refund_id, error=error_text(error))
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
        request = refund_request(payment, refund.id, asked)
        key_lasts = provider.capabilities.refund_key_lasts
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
            answer = await ask_provider(provider, request)
        if answer is not None and answer.status == RefundStatus.FAILED:
            await self.outcomes.fail(refund.id, answer.failure or "failed")
            return
        # Still pending with a reference the provider gave before: the admins were told it was pending then.
        await self.outcomes.record(refund.id, answer, late=True, tell_pending=refund.provider_refund_ref is None)
