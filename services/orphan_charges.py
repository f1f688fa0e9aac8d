"""Money that arrived for a checkout daifu does not know: kept once per charge, given back where it can be.

Telegram delivers a successful_payment for any invoice the bot ever sent (an invoice from before a database
was reset, one posted by hand, a payload from another deployment): the money is certainly the bot's, so it
goes back at once where the bot can give it back (Stars), and is recorded as owed where it cannot (card
payments through a provider token). A web provider's charge that names no checkout of daifu's may belong to
another app on the same merchant account: it is kept and shown to the admins, never refunded unasked.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from payments.base import (
    Amount,
    NotSupported,
    PaymentError,
    PaymentEvent,
    PaymentProvider,
    Refund,
    RefundRequest,
    RefundStatus,
)
from services.telling import Tellings
from storage.database import Database
from storage.models import OrphanCharge, utcnow
from storage.queries.orphan_charges import charges_to_give_back, lease_charge, record_outcome

log = logging.getLogger(__name__)
# Given back within a second of its arrival; one still being given back after this long lost its worker.
RESUME_AFTER = timedelta(minutes=2)
GIVE_UP_AFTER = timedelta(days=1)


class OrphanCharges:
    def __init__(self, db: Database, providers: Mapping[str, PaymentProvider], tellings: Tellings) -> None:
        self.db = db
        self.providers = providers
        self.tellings = tellings

    async def receive(self, event: PaymentEvent) -> None:
        """Keep the charge (once: a second delivery of it changes nothing) and give it back if it is the bot's to
        give back; the admins are told what became of it."""
        provider = self.providers.get(event.provider)
        ours = provider is not None and provider.capabilities.charges_are_ours
        charge = OrphanCharge(
            provider=event.provider,
            charge_ref=event.charge_ref,
            provider_charge_ref=event.extra.get("provider_charge_ref"),
            payload=event.checkout_ref[:255],
            amount_minor=event.amount.minor,
            currency=event.amount.currency,
            payer_id=int(event.payer_ref)
            if event.payer_ref and event.payer_ref.isascii() and event.payer_ref.isdigit()
            else None,
            status="refunding" if ours else "unclaimed",
        )
        try:
            async with self.db.transaction() as session:
                session.add(charge)
                await session.flush()
                assert charge.id is not None
                if not ours:  # else told once it has been given back (or could not be)
                    await self.tellings.orphan_charged(session, charge.id)
        except IntegrityError:
            log.info("%s charge %s for an unknown checkout was kept already", event.provider, event.charge_ref)
            return
        assert charge.id is not None
        log.error(
            "%s charge %s (%s %s) for unknown checkout %r kept as orphan charge %s",
            event.provider,
            event.charge_ref,
            event.amount.minor,
            event.amount.currency,
            event.checkout_ref,
            charge.id,
        )
        if ours and provider is not None:
            await self._give_back(provider, charge)

    async def resume(self, limit: int = 20) -> None:
        """Orphan charges whose worker died before giving them back: give them back now, under the same refund
        key (a Stars payment refunded already counts as given back), one worker per charge."""
        now = utcnow()
        async with self.db.transaction() as session:
            due = await charges_to_give_back(
                session, now=now, kept_before=now - RESUME_AFTER, kept_after=now - GIVE_UP_AFTER, limit=limit
            )
        for charge_id in due:
            async with self.db.transaction() as session:
                claimed = await lease_charge(session, charge_id=charge_id, now=now, until=now + RESUME_AFTER)
                charge = await session.get(OrphanCharge, charge_id)
            provider = self.providers.get(charge.provider) if charge is not None else None
            if not claimed or charge is None or provider is None:
                continue
            await self._give_back(provider, charge)

    async def _give_back(self, provider: PaymentProvider, charge: OrphanCharge) -> None:
        values: dict[str, object]
        try:
            answer = await ask_to_give_back(provider, charge)
        except NotSupported:
            values = {"status": "owed"}
        except PaymentError as error:
            log.warning("orphan charge %s could not be given back: %s", charge.id, error)
            values = {"status": "refund_failed", "error": str(error)[:500]}
        else:
            status = {RefundStatus.SUCCEEDED: "refunded", RefundStatus.FAILED: "refund_failed"}
            values = {"status": status.get(answer.status, "refunding"), "refund_ref": answer.refund_ref}
            if answer.failure:
                values["error"] = answer.failure
        assert charge.id is not None
        async with self.db.transaction() as session:
            await record_outcome(session, charge_id=charge.id, values=values)
            await self.tellings.orphan_charged(session, charge.id)


async def ask_to_give_back(provider: PaymentProvider, charge: OrphanCharge) -> Refund:
    """Ask the provider to give the whole charge back to its payer, under one refund key per charge: asking
    again (a worker that died mid-call, a give-back the Stars ledger lacks) is the same refund, and Stars that
    went back already count as given back."""
    whole = Amount(charge.amount_minor, charge.currency)
    return await provider.refund(
        RefundRequest(
            charge_ref=charge.charge_ref,
            amount=whole,
            charge_amount=whole,
            refund_key=f"daifu-orphan-{charge.id}",
            payer_ref=str(charge.payer_id) if charge.payer_id is not None else None,
        )
    )
