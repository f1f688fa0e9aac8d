"""Holds and chip-in parts: who may pay a pay-for-me request now, and Telegram's last check before it takes money.

In single mode the friend who starts paying holds the request for a while, and nobody else can start until it
lapses; in split mode each friend's chip-in keeps its part while they pay. The hold is taken by one conditional
UPDATE of the request's row, so two workers on one PostgreSQL can never both grant it.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.config import ShopRules
from services.money import Money
from services.pay_requests import RequestRefused, RequestView, telegram_holder
from services.request_views import RequestViews, kept_for_others
from services.telling import Tellings
from services.users import Users
from services.why_not import WhyNot, why_request_closed
from storage.database import Database
from storage.models import Order, Payment, PayRequest, RequestMode, utcnow
from storage.queries.pay_requests import lock_open_request, release_hold, take_hold


class RequestHolds:
    def __init__(self, db: Database, rules: ShopRules, users: Users, views: RequestViews, tellings: Tellings) -> None:
        self.db = db
        self.rules = rules
        self.users = users
        self.views = views
        self.tellings = tellings

    async def hold(self, request_id: int, holder: str, holder_name: str, *, to_pay: bool = False) -> bool:
        """Take or renew the hold for this payer; False while someone else holds it, or (unless to_pay: paying
        an invoice sent already) while this payer's own hold, run to its limit, waits out a hold's time."""
        async with self.db.transaction() as session:
            return await self._hold_in(session, request_id, holder, holder_name, to_pay=to_pay)

    async def _hold_in(
        self, session: AsyncSession, request_id: int, holder: str, holder_name: str, *, to_pay: bool = False
    ) -> bool:
        now, rules = utcnow(), self.rules
        # The views that callers hold were read in sessions of their own: no object here to keep in step.
        return await take_hold(
            session,
            request_id=request_id,
            holder=holder,
            holder_name=holder_name[:64],
            now=now,
            hold_until=now + rules.payforme_hold,
            hold_limit=now + rules.hold_limit,
            spent_before=None if to_pay else now - rules.payforme_hold,
        )

    async def release(self, request_id: int, holder: str) -> None:
        async with self.db.transaction() as session:
            await release_hold(session, request_id=request_id, holder=holder)

    async def take_in(
        self, session: AsyncSession, view: RequestView, part: Money, *, holder: str, holder_name: str
    ) -> bool:
        """In the caller's transaction, a friend takes a request found payable moments ago (RequestView from
        RequestViews.payable) to pay part of it (part_to_pay): a single request's hold, or the part of a split one.
        False if another friend took it, or it closed, meanwhile (why_taken says which); RequestRefused (BEING_PAID)
        if friends paying right now leave less than the part."""
        request_id = view.request.id
        assert request_id is not None
        if view.request.mode == RequestMode.SINGLE:
            if not await self._hold_in(session, request_id, holder, holder_name):
                return False
            await self.tellings.card_changed(session, request_id)  # its cards show who is paying
            return True
        # Split: the request's row is locked first, so chip-ins started at once are weighed one after another
        # against what is left; each pending one keeps its part until it is paid, declined or lapses.
        fresh = await lock_open_request(session, request_id=request_id, now=utcnow())
        if fresh is None:
            return False
        left = (
            view.order.amount_minor
            - fresh.covered_minor
            - await kept_for_others(session, request_id, holder, hold=self.rules.payforme_hold)
        )
        if part.minor > left:
            raise RequestRefused(WhyNot.BEING_PAID, available=Money(max(0, left), part.currency))
        await self.tellings.card_changed(session, request_id)
        return True

    async def why_taken(self, token: str, holder: str) -> RequestRefused:
        """Why this payer could not take the request a moment ago (take_in): it closed, they held it to its limit,
        or another friend holds it (and who)."""
        fresh = await self.views.view(token)
        now = utcnow()
        closed = why_request_closed(fresh.request, now)
        if closed is not None:
            return RequestRefused(closed)
        if fresh.request.holder == holder and fresh.request.hold_limit is not None and not fresh.holder_now(now):
            # Held by this payer to its limit: free for others a while, when this payer may try again.
            again = fresh.request.hold_limit + self.rules.payforme_hold
            return RequestRefused(WhyNot.HOLD_SPENT, hold_until=again)
        return RequestRefused(WhyNot.HELD, holder_name=fresh.request.holder_name, hold_until=fresh.request.hold_until)

    async def pre_checkout_guard(
        self, attempt: Payment, order: Order, request: PayRequest, payer_id: int
    ) -> WhyNot | None:
        """Telegram lets anyone in a group pay an invoice, again and again: the hold decides who may. A chip-in
        is let through only while its part still fits, so friends paying at once never pay more than the order.

        The request is as read with the attempt, in the same query as the order.
        """
        assert request.id is not None
        closed = why_request_closed(request, utcnow())
        if closed is not None:
            return closed
        if request.mode == RequestMode.SPLIT:
            async with self.db.transaction() as session:
                kept = await kept_for_others(session, request.id, attempt.holder or "", hold=self.rules.payforme_hold)
            if request.covered_minor + kept + (attempt.credit_minor or 0) > order.amount_minor:
                return WhyNot.BEING_PAID
            return None
        if request.mode == RequestMode.SINGLE:
            holder, now = telegram_holder(payer_id), utcnow()
            # The payer's own hold, taken at the tap moments ago, needs no renewing: nobody else can take it
            # before it lapses, and the answer comes without a write (Telegram waits at most 10 s for it).
            renew_before = now + self.rules.payforme_hold / 2
            if request.holder == holder and request.hold_until is not None and request.hold_until > renew_before:
                return None
            if not await self.hold(request.id, holder, await self.users.name_of(payer_id), to_pay=True):
                return WhyNot.HELD
        return None
