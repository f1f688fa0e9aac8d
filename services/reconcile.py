"""Reconciliation: ask providers about checkouts that stayed pending too long (a notice may have been lost),
and apply what they say through the same idempotent path as a notice."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from payments.base import CheckoutRef, PaymentError, PaymentProvider
from services.money import Money
from services.payment_intake import PaymentIntake
from services.provider_health import ProviderHealthLog
from storage.database import Database
from storage.models import Payment, utcnow
from storage.queries.attempts import attempts_to_reconcile, claim_reconcile_check

log = logging.getLogger(__name__)
# Checkouts older than this are not asked about any more: every provider here has closed them by then.
GIVE_UP_AFTER = timedelta(days=8)
BATCH = 100


class Reconciler:
    def __init__(
        self,
        db: Database,
        providers: Mapping[str, PaymentProvider],
        payment_intake: PaymentIntake,
        health: ProviderHealthLog,
        *,
        after: timedelta,
    ) -> None:
        self.db = db
        self.providers = providers
        self.payment_intake = payment_intake
        self.health = health
        self.after = after

    async def _claim(self, attempt: Payment, now: datetime) -> bool:
        assert attempt.id is not None
        async with self.db.transaction() as session:
            return await claim_reconcile_check(session, attempt_id=attempt.id, now=now, checked_before=now - self.after)

    async def run(self) -> None:
        now = utcnow()
        async with self.db.transaction() as session:
            pending = await attempts_to_reconcile(
                session,
                made_before=now - self.after,
                made_after=now - GIVE_UP_AFTER,
                providers=list(self.providers),
                limit=BATCH,
            )
        for attempt in pending:
            try:
                await self._reconcile(attempt, now)
            except Exception:  # each checkout alone; this one is asked about again after `after`
                log.exception("reconciling payment %s (checkout %s) failed", attempt.id, attempt.checkout_ref)

    async def _reconcile(self, attempt: Payment, now: datetime) -> None:
        if not await self._claim(attempt, now):
            return  # another worker is asking about this one
        provider = self.providers[attempt.provider]
        checkout = CheckoutRef(
            attempt.checkout_ref, attempt.provider_checkout_id, Money(attempt.amount_minor, attempt.currency)
        )
        try:
            event = await provider.query(checkout)
        except PaymentError as error:
            await self.health.record(attempt.provider, ok=False, error=str(error))
            return
        await self.health.record(attempt.provider, ok=True)
        if event is None:
            return
        log.info("reconciliation found %s for checkout %s", event.outcome.value, attempt.checkout_ref)
        await self.payment_intake.receive(event)
