"""Help with a payment (/paysupport): a person's recent charges, to quote one to the shop, and the shop's admins
told that they asked, through the outbox; at most once in a while per person and payment, however often they ask."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from sqlmodel.ext.asyncio.session import AsyncSession

from services.read_models import OrderInfo, PaymentInfo, utcnow
from services.telling import Tellings
from services.telling_rows import Kind
from storage.database import Database
from storage.models import Payment
from storage.queries.payer_charges import charge_of_payer, recent_charges_of_payer
from storage.queries.tellings import told_since

RECENT = 5  # charges listed, newest first
# Asking again within this long (about the same payment, or about none) tells the admins nothing new.
QUIET = timedelta(minutes=10)


class Heard(StrEnum):
    TOLD = "told"  # the admins were told just now
    ALREADY = "already"  # they were told of the same a short while ago: not again
    NO_ADMINS = "no_admins"  # the shop has no admins to tell
    NOT_YOURS = "not_yours"  # the payment quoted is not one of this person's charges


@dataclass(frozen=True, slots=True)
class PaidCharge:
    payment: PaymentInfo
    order: OrderInfo


@dataclass(frozen=True, slots=True)
class SupportAsked:
    heard: Heard
    charges: tuple[PaidCharge, ...] = ()  # the person's recent charges (asking about none), or the one quoted


class PaySupport:
    def __init__(self, db: Database, tellings: Tellings) -> None:
        self.db = db
        self.tellings = tellings

    async def ask(self, user_id: int) -> SupportAsked:
        """The person asked for help with a payment: the admins are told, and the person's recent charges read."""
        async with self.db.transaction() as session:
            found = await recent_charges_of_payer(session, payer_id=user_id, limit=RECENT)
            charges = tuple(PaidCharge(PaymentInfo.of(payment), OrderInfo.of(order)) for payment, order in found)
            heard = await self._tell_admins(session, user_id, None)
        return SupportAsked(heard, charges)

    async def quote(self, user_id: int, payment_id: int) -> SupportAsked:
        """The person named one of their charges: the admins are told its details."""
        async with self.db.transaction() as session:
            found = await charge_of_payer(session, payer_id=user_id, payment_id=payment_id)
            if found is None:
                return SupportAsked(Heard.NOT_YOURS)
            payment, order = found
            charge = PaidCharge(PaymentInfo.of(payment), OrderInfo.of(order))
            return SupportAsked(await self._tell_admins(session, user_id, payment), (charge,))

    async def _tell_admins(self, session: AsyncSession, user_id: int, payment: Payment | None) -> Heard:
        if not self.tellings.admin_ids:
            return Heard.NO_ADMINS
        asked_lately = await told_since(
            session,
            kind=Kind.SUPPORT_ASKED.value,
            detail=str(user_id),
            payment_id=None if payment is None else payment.id,
            since=utcnow() - QUIET,
        )
        if asked_lately:
            return Heard.ALREADY
        await self.tellings.support_asked(session, user_id, payment)
        return Heard.TOLD
