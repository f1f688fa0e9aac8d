"""Holds and chip-in parts: who may pay a pay-for-me request now, and Telegram's last check before it takes money.

In single mode the friend who starts paying holds the request for a while, and nobody else can start until it
lapses; in split mode each friend's chip-in keeps its part while they pay. The hold is taken by one conditional
UPDATE of the request's row, so two workers on one PostgreSQL can never both grant it.
"""

from __future__ import annotations

from sqlalchemy import bindparam, case, func
from sqlalchemy import update as core_update
from sqlmodel import col, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.config import ShopRules
from services.money import Money
from services.pay_requests import RequestRefused, RequestView, telegram_holder
from services.request_views import RequestViews, kept_for_others
from services.telling import Tellings
from services.users import Users
from services.why_not import WhyNot, why_request_closed
from storage.database import Database, run_core
from storage.models import Order, Payment, PayRequest, RequestMode, RequestStatus, utcnow
from storage.queries.crediting import STILL_OPEN

_requests = PayRequest.__table__  # type: ignore[attr-defined]
_moment = _requests.c.hold_until.type
_holds_it_now = (_requests.c.holder == bindparam("w_holder")) & (_requests.c.hold_until > bindparam("w_now"))
_lapsed = _requests.c.holder.is_(None) | (_requests.c.hold_until <= bindparam("w_now"))
# Renewing never moves a hold past the limit set when it was first taken.
_renewed_until = case(
    (_holds_it_now & (_requests.c.hold_limit < bindparam("v_hold_until", type_=_moment)), _requests.c.hold_limit),
    else_=bindparam("v_hold_until", type_=_moment),
)
_limit_kept = case(
    (
        _requests.c.holder == bindparam("w_holder"),
        func.coalesce(_requests.c.hold_limit, bindparam("v_hold_limit", type_=_moment)),
    ),
    else_=bindparam("v_hold_limit", type_=_moment),
)
# A friend takes the hold (or renews their own, up to its limit) only while the request is open and nobody else
# holds it. A holder whose hold ran to its limit may take it again only a hold's time later (w_spent_before):
# one browser posting again and again cannot keep friends out.
_TAKE_HOLD = (
    core_update(_requests)
    .where(
        *STILL_OPEN,
        _holds_it_now
        | _requests.c.holder.is_(None)
        | (
            (_requests.c.hold_until <= bindparam("w_now"))
            & (
                (_requests.c.holder != bindparam("w_holder"))
                | _requests.c.hold_limit.is_(None)
                | (_requests.c.hold_limit <= bindparam("w_spent_before"))
            )
        ),
    )
    .values(
        holder=bindparam("v_holder"),
        holder_name=bindparam("v_holder_name"),
        hold_until=_renewed_until,
        hold_limit=case((_holds_it_now, _limit_kept), else_=bindparam("v_hold_limit", type_=_moment)),
    )
)
# At Telegram's pre-checkout the payer is paying already: their own hold is renewed past its limit, as before.
_HOLD_TO_PAY = (
    core_update(_requests)
    .where(*STILL_OPEN, _lapsed | (_requests.c.holder == bindparam("w_holder")))
    .values(
        holder=bindparam("v_holder"),
        holder_name=bindparam("v_holder_name"),
        hold_until=bindparam("v_hold_until"),
        hold_limit=_limit_kept,
    )
)


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
        params = {
            "w_id": request_id,
            "w_now": now,
            "w_holder": holder,
            "v_holder": holder,
            "v_holder_name": holder_name[:64],
            "v_hold_until": now + rules.payforme_hold,
            "v_hold_limit": now + rules.hold_limit,
        }
        if not to_pay:
            params["w_spent_before"] = now - rules.payforme_hold
        granted = await run_core(session, _HOLD_TO_PAY if to_pay else _TAKE_HOLD, params)
        return bool(granted.rowcount == 1)

    async def release(self, request_id: int, holder: str) -> None:
        async with self.db.transaction() as session:
            await session.exec(
                update(PayRequest)
                .where(col(PayRequest.id) == request_id, col(PayRequest.holder) == holder)
                .values(holder=None, holder_name=None, hold_until=None)
            )

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
        locked = await session.exec(
            update(PayRequest)
            .where(
                col(PayRequest.id) == request_id,
                col(PayRequest.status) == RequestStatus.OPEN,
                col(PayRequest.expires_at) > utcnow(),
            )
            .values(covered_minor=col(PayRequest.covered_minor))
        )
        if locked.rowcount != 1:
            return False
        fresh = await session.get(PayRequest, request_id, populate_existing=True)
        assert fresh is not None
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
