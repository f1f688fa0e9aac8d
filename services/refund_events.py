"""Following a provider's refund events: a refund daifu asked for that succeeded, failed or is still on its way."""

from __future__ import annotations

import logging

from payments.base import PaymentEvent, RefundStatus, refund_of
from services.refund_outcomes import RefundOutcomes
from services.refunds import REFUND_KEY_PREFIX
from services.telling import Tellings
from storage.database import Database
from storage.models import Payment, Refund, utcnow
from storage.queries.refunds import fail_refund, reported_refund

log = logging.getLogger(__name__)


def _refund_id(refund_key: str | None) -> int | None:
    """The refund row a provider's refund key names, if it is one of daifu's keys."""
    number = (refund_key or "").removeprefix(REFUND_KEY_PREFIX)
    if refund_key is None or number == refund_key or not (number.isascii() and number.isdigit()):
        return None
    return int(number)


class RefundEvents:
    """Applies the providers' refund events to the refunds daifu asked for."""

    def __init__(self, db: Database, outcomes: RefundOutcomes, tellings: Tellings) -> None:
        self.db = db
        self.outcomes = outcomes
        self.tellings = tellings

    async def follow(self, event: PaymentEvent) -> None:
        """A provider's refund event: a refund daifu asked for succeeded or failed (or is still on its way).
        Applied once: only a refund still pending moves, so a repeated or late event changes nothing."""
        reported = refund_of(event)
        refund_id = _refund_id(reported.refund_key)
        async with self.db.transaction() as session:
            refund = await reported_refund(
                session,
                provider=event.provider,
                refund_id=refund_id,
                charge_ref=event.charge_ref,
                refund_ref=reported.refund_ref,
            )
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
            await self.outcomes.fail(refund.id, reported.failure or "failed")
            return
        # Still pending: the admins heard it was pending when it was asked for.
        await self.outcomes.record(refund.id, reported, late=True, tell_pending=False)

    async def _failed_after_done(self, refund: Refund, why: str) -> None:
        async with self.db.transaction() as session:
            assert refund.id is not None
            if not await fail_refund(session, refund_id=refund.id, was="done", why=why[:1000], finished_at=utcnow()):
                return
            payment = await session.get(Payment, refund.payment_id)
            assert payment is not None
            await self.tellings.refund_failed(session, refund.id, payment, why, after_done=True)
