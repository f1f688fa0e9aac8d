"""Resuming refunds left pending: asked for again under the same key, or the provider asked what became of them."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select, update

from payments.base import NotSupported, PaymentProvider, RefundStatus
from payments.base import Refund as ProviderRefund
from services.metrics import PARKED
from services.money import Money
from services.orphan_charges import OrphanCharges
from services.parking import PARK_AFTER_ATTEMPTS, error_text
from services.refunds import Refunds, refund_request
from storage.database import Database
from storage.models import Payment, Refund, utcnow

log = logging.getLogger(__name__)
RESUME_REFUNDS_AFTER = timedelta(minutes=2)
# A refund the provider is still working on is asked about again less and less often, but at least this often.
FOLLOW_REFUNDS_AT_MOST = timedelta(hours=1)


class RefundResumption:
    """The refunds (and the orphan charges) a worker left unfinished, taken up again by the expiry job."""

    def __init__(
        self, db: Database, providers: Mapping[str, PaymentProvider], refunds: Refunds, orphans: OrphanCharges
    ) -> None:
        self.db = db
        self.providers = providers
        self.refunds = refunds
        self.orphans = orphans

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
            answer = await self.refunds.ask_provider(payment, request)
        if answer is not None and answer.status == RefundStatus.FAILED:
            await self.refunds.fail(refund.id, answer.failure or "failed")
            return
        # Still pending with a reference the provider gave before: the admins were told it was pending then.
        await self.refunds.record(refund.id, answer, late=True, tell_pending=refund.provider_refund_ref is None)
