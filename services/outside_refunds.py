"""Stars that Telegram says went back to a payer (a refunded_payment message, or a refund in the Stars ledger),
put on the books whoever gave them back: daifu's own refund finished, or one made outside daifu (by the bot's
owner from another program) recorded as the shop's refund, the order moved as a refund moves it."""

from __future__ import annotations

import logging
from enum import StrEnum

from payments.base import Refund as ProviderRefund
from payments.base import RefundStatus
from payments.telegram_invoice import provider_paid_in
from services.money import Money
from services.notices import ReturnReason
from services.order_states import record_event
from services.refund_outcomes import RefundOutcomes
from services.telling import Tellings
from storage.database import Database
from storage.models import PaymentStatus, Refund
from storage.queries.charges import reserve_refund
from storage.queries.crediting import recorded_charge
from storage.queries.orphan_charges import record_outcome
from storage.queries.star_ledger import orphan_charge_of, pending_refund_of

log = logging.getLogger(__name__)


class GoneBack(StrEnum):
    """Whose refund the Stars that went back were, as the books now show it."""

    DAIFUS = "daifus"  # a refund daifu asked for (finished now, if it was still waiting)
    OUTSIDE = "outside"  # made outside daifu: recorded now as the shop's refund
    ORPHAN = "orphan"  # an orphan charge given back
    UNKNOWN = "unknown"  # no charge daifu knows: only the admins can say what it was


class OutsideRefunds:
    def __init__(self, db: Database, outcomes: RefundOutcomes, tellings: Tellings) -> None:
        self.db = db
        self.outcomes = outcomes
        self.tellings = tellings

    async def refunded_in_telegram(self, *, charge_ref: str, amount: Money) -> GoneBack:
        """A refunded_payment service message: a payment made inside Telegram went back to its payer."""
        return await self.went_back(provider=provider_paid_in(amount.currency), charge_ref=charge_ref, amount=amount)

    async def went_back(self, *, provider: str, charge_ref: str, amount: Money) -> GoneBack:
        """The charge's money went back to its payer, Telegram says: on the books once, however often it is
        said (the message and the ledger both say it) and whichever path says it first."""
        async with self.db.transaction() as session:
            payment = await recorded_charge(session, provider=provider, charge_ref=charge_ref)
            if payment is None or payment.id is None:
                orphan = await orphan_charge_of(session, provider=provider, charge_ref=charge_ref)
                if orphan is None or orphan.id is None:
                    return GoneBack.UNKNOWN
                if orphan.status == "refund_failed":  # it went back after all (asked again by hand, say)
                    await record_outcome(session, charge_id=orphan.id, values={"status": "refunded", "error": None})
                    await self.tellings.orphan_charged(session, orphan.id)
                return GoneBack.ORPHAN
            pending = await pending_refund_of(session, payment_id=payment.id)
            if pending is None:
                left = payment.amount_minor - payment.refunded_minor
                if payment.status != PaymentStatus.SUCCEEDED or left <= 0:
                    return GoneBack.DAIFUS  # on the books already
                if not await reserve_refund(session, payment_id=payment.id, part=left):
                    return GoneBack.DAIFUS  # another path recorded it first
                pending = Refund(
                    payment_id=payment.id,
                    amount_minor=left,
                    asked_minor=left,
                    currency=payment.currency,
                    status="pending",
                    reason=ReturnReason.SHOP_REFUND.value,
                    provider_refund_ref=charge_ref,
                )
                session.add(pending)
                await session.flush()
                # The timeline says where it came from: no admin asked daifu for it.
                await record_event(
                    session, payment.order_id, "refunded_outside_daifu", payment_id=payment.id, charge_ref=charge_ref
                )
                outside = True
            else:
                outside = False
            refund_id = pending.id
        assert refund_id is not None
        if outside:
            log.warning(
                "%s charge %s was refunded outside daifu: recorded as refund %s", provider, charge_ref, refund_id
            )
        answer = ProviderRefund(refund_ref=charge_ref, amount=amount, status=RefundStatus.SUCCEEDED)
        await self.outcomes.record(refund_id, answer, tell_pending=False, late=True)
        return GoneBack.OUTSIDE if outside else GoneBack.DAIFUS
