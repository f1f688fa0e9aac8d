"""Pay for me: a shopper asks a friend (or several friends, chipping in) to pay an order for them.

A request has its own token ("r_" + 128 random bits, so it can never be mistaken for an order token), an
expiry that never outlives its order, and in single mode a hold: the friend who starts paying holds the
request for a while, and nobody else can start until it lapses. The hold is taken by one conditional
UPDATE of the request's row, so two workers on one PostgreSQL can never both grant it.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, case, func
from sqlalchemy import insert as core_insert
from sqlalchemy import select as core_select
from sqlalchemy import update as core_update
from sqlmodel import col, desc, select, update
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from services.config import ShopRules
from services.money import Money
from services.notices import PaymentReturned, ReturnReason
from services.order_states import record_event
from services.orders import Orders, payable_in
from services.refunds import RefundRefused, Refunds
from services.telling import Tellings
from services.tokens import REQUEST_PREFIX, looks_like_token, new_token
from services.users import Users
from services.why_not import WhyNot, request_status_now, why_not_request, why_request_closed
from storage.database import Database, run_core
from storage.models import (
    Order,
    Payment,
    PaymentStatus,
    PayRequest,
    RequestCard,
    RequestMode,
    RequestStatus,
    User,
    utcnow,
)
from storage.queries.crediting import STILL_OPEN


def new_request_token() -> str:
    return REQUEST_PREFIX + new_token()


def is_request_token(text: str) -> bool:
    return text.startswith(REQUEST_PREFIX) and looks_like_token(text)


def telegram_holder(user_id: int) -> str:
    return f"tg:{user_id}"


class RequestRefused(Exception):
    def __init__(
        self,
        why: WhyNot,
        *,
        holder_name: str | None = None,
        hold_until: datetime | None = None,
        available: Money | None = None,
    ) -> None:
        super().__init__(why.value)
        self.why = why
        self.holder_name = holder_name
        self.hold_until = hold_until
        self.available = available  # BEING_PAID: what is left over for this friend now


def is_held_by_other(request: PayRequest, holder: str, now: datetime) -> bool:
    return (
        request.holder is not None
        and request.holder != holder
        and request.hold_until is not None
        and request.hold_until > now
    )


@dataclass(frozen=True, slots=True)
class RequestView:
    request: PayRequest
    order: Order
    requester_name: str
    contributions: list[Payment]  # credited charges, oldest first
    # Split: parts of chip-ins other friends have started and not finished yet (kept for them a while), as
    # seen by the friend this view was read for (RequestView from payable); 0 otherwise.
    kept_minor: int = 0

    @property
    def total(self) -> Money:
        return Money(self.order.amount_minor, self.order.currency)

    @property
    def remaining(self) -> Money:
        """What is left for this friend to pay: not covered, and not being paid by others right now."""
        left = self.order.amount_minor - self.request.covered_minor - self.kept_minor
        return Money(max(0, left), self.order.currency)

    @property
    def kept(self) -> Money:
        return Money(self.kept_minor, self.order.currency)

    @property
    def share(self) -> Money | None:
        """In split mode, an equal share of the total (never more than what is left)."""
        if self.request.mode != RequestMode.SPLIT or not self.request.shares:
            return None
        equal = -(-self.order.amount_minor // self.request.shares)  # rounded up, so N shares cover it
        return Money(min(equal, self.remaining.minor), self.order.currency)

    def status(self, now: datetime) -> RequestStatus:
        return request_status_now(self.request, now)

    def holder_now(self, now: datetime) -> str | None:
        """The name of the friend paying right now, if a hold is running."""
        request = self.request
        if request.holder and request.hold_until and request.hold_until > now:
            return request.holder_name or ""
        return None


def part_to_pay(view: RequestView, amount: Money | None) -> Money:
    """What a friend pays of a request found payable moments ago (RequestView from payable): all of a single one;
    of a split one the part they chose (what is left for them if none), no more than what is not covered yet.
    What friends paying right now keep is weighed when the part is taken, under a lock (PayRequests.take_in)."""
    if view.request.mode != RequestMode.SPLIT:
        return view.total
    part = amount or view.remaining
    uncovered = view.order.amount_minor - view.request.covered_minor
    if part.currency != view.order.currency or not 0 <= part.minor <= uncovered:
        raise RequestRefused(WhyNot.BAD_AMOUNT)
    if part.minor == 0:
        raise RequestRefused(WhyNot.BEING_PAID if view.kept_minor else WhyNot.BAD_AMOUNT, available=view.remaining)
    return part


def _with_order() -> Select[PayRequest, Order]:
    """A request with its order, in one query."""
    return select(PayRequest, Order).join(Order, col(Order.id) == col(PayRequest.order_id))


# Views are read several times for each tap and payment, so their statements are built once: building one
# (and its cache key) costs about as much CPU as SQLAlchemy's part of running it (bench.db_floor).
_VIEW_BY_TOKEN = _with_order().where(col(PayRequest.token) == bindparam("key"))
_VIEW_BY_ID = _with_order().where(col(PayRequest.id) == bindparam("key"))
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
_users = User.__table__  # type: ignore[attr-defined]
# Both read at every ask (built once).
_LOCK_REQUESTER = core_select(_users.c.id).where(_users.c.id == bindparam("requester_id")).with_for_update()
_OPEN_REQUESTS_OF = (
    core_select(func.count())
    .select_from(_requests)
    .where(
        _requests.c.requester_id == bindparam("requester_id"),
        _requests.c.status == RequestStatus.OPEN.value,
        _requests.c.expires_at > bindparam("now"),
    )
)
_cards = RequestCard.__table__  # type: ignore[attr-defined]
# A card is posted at every share: one statement, which finds the request by its token and writes the card.
_ADD_CARD = (
    core_insert(_cards)
    .from_select(
        ["request_id", "inline_message_id", "created_at"],
        core_select(
            _requests.c.id,
            bindparam("v_inline_message_id", type_=_cards.c.inline_message_id.type),
            bindparam("v_created_at", type_=_cards.c.created_at.type),
        ).where(_requests.c.token == bindparam("w_token")),
    )
    .returning(_cards.c.id, _cards.c.request_id)
)
_CARDS_OF = select(RequestCard).where(col(RequestCard.request_id) == bindparam("request_id"))
_CONTRIBUTIONS = (
    select(Payment)
    .where(col(Payment.request_id) == bindparam("request_id"), col(Payment.credited).is_(True))
    .order_by(col(Payment.id))
)


class PayRequests:
    def __init__(
        self,
        db: Database,
        rules: ShopRules,
        orders: Orders,
        users: Users,
        refunds: Refunds,
        tellings: Tellings,
    ) -> None:
        self.db = db
        self.rules = rules
        self.orders = orders
        self.users = users
        self.refunds = refunds
        self.tellings = tellings

    # -- asking ----------------------------------------------------------------------------------------

    async def ask(
        self, order_token: str, requester_id: int, *, mode: RequestMode, shares: int | None = None, note: str = ""
    ) -> RequestView:
        """Turn an open order into a request; refused when the person already has too many open ones."""
        now = utcnow()
        async with self.db.transaction() as session:
            # Lock the requester's row so that two asks at once cannot both slip under the limit.
            await run_core(session, _LOCK_REQUESTER, {"requester_id": requester_id})
            order = await payable_in(session, order_token)
            assert order.id is not None
            if not order.payforme_allowed:
                raise RequestRefused(WhyNot.NOT_ALLOWED)
            open_now = (await run_core(session, _OPEN_REQUESTS_OF, {"requester_id": requester_id, "now": now})).one()[0]
            if open_now >= self.rules.payforme_max_open:
                raise RequestRefused(WhyNot.TOO_MANY_OPEN)
            request = PayRequest(
                token=new_request_token(),
                order_id=order.id,
                requester_id=requester_id,
                mode=mode,
                shares=shares if mode == RequestMode.SPLIT else None,
                note=" ".join(note.split())[:200],
                created_at=now,
                expires_at=min(order.expires_at, now + self.rules.payforme_ttl),
            )
            session.add(request)
            await session.flush()
            await record_event(
                session, order.id, "request_created", actor_id=requester_id, request_id=request.id, mode=mode.value
            )
        return RequestView(request, order, await self.users.name_of(requester_id), [])

    # -- reading ---------------------------------------------------------------------------------------

    async def by_token(self, token: str) -> PayRequest | None:
        if not is_request_token(token):
            return None
        async with self.db.transaction() as session:
            return (await session.exec(select(PayRequest).where(PayRequest.token == token))).first()

    async def view(self, token: str) -> RequestView:
        if not is_request_token(token):
            raise RequestRefused(WhyNot.UNKNOWN_REQUEST)
        view = await self._view_where(_VIEW_BY_TOKEN, token)
        if view is None:
            raise RequestRefused(WhyNot.UNKNOWN_REQUEST)
        return view

    async def view_by_id(self, request_id: int) -> RequestView | None:
        return await self._view_where(_VIEW_BY_ID, request_id)

    async def view_with_cards(self, request_id: int) -> tuple[RequestView, list[RequestCard]] | None:
        """The request as it is now, and the cards showing it in chats: what a refresh of its cards needs."""
        async with self.db.reading() as session:
            view = await self._view_in(session, _VIEW_BY_ID, request_id)
            if view is None:
                return None
            cards = (await session.exec(_CARDS_OF, params={"request_id": request_id})).all()
        return view, list(cards)

    async def _view_where(
        self, which: Select[PayRequest, Order], key: str | int, *, for_holder: str | None = None
    ) -> RequestView | None:
        async with self.db.reading() as session:
            return await self._view_in(session, which, key, for_holder=for_holder)

    async def _view_in(
        self, session: AsyncSession, which: Select[PayRequest, Order], key: str | int, *, for_holder: str | None = None
    ) -> RequestView | None:
        """The view of the request that which (_VIEW_BY_TOKEN or _VIEW_BY_ID) finds by key."""
        row = (await session.exec(which, params={"key": key})).first()
        if row is None:
            return None
        request, order = row
        contributions = await self._contributions(session, request)
        kept = 0
        if for_holder is not None and request.mode == RequestMode.SPLIT and request.status == RequestStatus.OPEN:
            kept = await self._kept_for_others(session, request, for_holder)
        name = await self.users.name_of(request.requester_id)
        return RequestView(request, order, name, contributions, kept)

    async def _kept_for_others(self, session: AsyncSession, request: PayRequest, holder: str) -> int:
        """The parts of chip-ins other friends started within the hold time and have not finished."""
        statement = select(func.coalesce(func.sum(Payment.credit_minor), 0)).where(
            Payment.request_id == request.id,
            Payment.status == PaymentStatus.PENDING,
            col(Payment.holder).is_not(None),
            col(Payment.holder) != holder,
            col(Payment.created_at) > utcnow() - self.rules.payforme_hold,
        )
        return int((await session.exec(statement)).one() or 0)

    @staticmethod
    async def _contributions(session: AsyncSession, request: PayRequest) -> list[Payment]:
        # Crediting a single request closes it in the same transaction, and a split one counts what it was
        # credited in covered_minor: an open request with nothing covered has no contributions to read.
        if request.status == RequestStatus.OPEN and (request.mode == RequestMode.SINGLE or not request.covered_minor):
            return []
        return list((await session.exec(_CONTRIBUTIONS, params={"request_id": request.id})).all())

    async def payable(self, token: str, *, holder: str) -> RequestView:
        """The request, if this person may pay (part of) it now; otherwise RequestRefused says why."""
        if not is_request_token(token):
            raise RequestRefused(WhyNot.UNKNOWN_REQUEST)
        view = await self._view_where(_VIEW_BY_TOKEN, token, for_holder=holder)
        if view is None:
            raise RequestRefused(WhyNot.UNKNOWN_REQUEST)
        now = utcnow()
        why = why_not_request(view.request, view.order, now)
        if why is not None:
            raise RequestRefused(why)
        if view.request.mode == RequestMode.SINGLE and is_held_by_other(view.request, holder, now):
            raise RequestRefused(WhyNot.HELD, holder_name=view.request.holder_name, hold_until=view.request.hold_until)
        return view

    async def contribution(self, payment_id: int, *, requester_id: int) -> Payment | None:
        """A friend's credited payment to one of this person's requests (for thanking them)."""
        async with self.db.transaction() as session:
            row = (
                await session.exec(
                    select(Payment)
                    .join(PayRequest, PayRequest.id == Payment.request_id)  # type: ignore[arg-type]
                    .where(
                        Payment.id == payment_id,
                        PayRequest.requester_id == requester_id,
                        col(Payment.credited).is_(True),
                    )
                )
            ).first()
        return row

    async def list_for(self, requester_id: int, limit: int = 10) -> list[RequestView]:
        newest = (
            _with_order()
            .where(PayRequest.requester_id == requester_id)
            .order_by(desc(PayRequest.created_at), desc(PayRequest.id))
            .limit(limit)
        )
        async with self.db.transaction() as session:
            rows = (await session.exec(newest)).all()
            found = [(request, order, await self._contributions(session, request)) for request, order in rows]
        name = await self.users.name_of(requester_id)
        return [RequestView(request, order, name, contributions) for request, order, contributions in found]

    # -- paying ----------------------------------------------------------------------------------------

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
        payable) to pay part of it (part_to_pay): a single request's hold, or the part of a split one. False if
        another friend took it, or it closed, meanwhile (why_taken says which); RequestRefused (BEING_PAID) if friends
        paying right now leave less than the part."""
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
        left = view.order.amount_minor - fresh.covered_minor - await self._kept_for_others(session, fresh, holder)
        if part.minor > left:
            raise RequestRefused(WhyNot.BEING_PAID, available=Money(max(0, left), part.currency))
        await self.tellings.card_changed(session, request_id)
        return True

    async def why_taken(self, token: str, holder: str) -> RequestRefused:
        """Why this payer could not take the request a moment ago (take_in): it closed, they held it to its limit,
        or another friend holds it (and who)."""
        fresh = await self.view(token)
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
                kept = await self._kept_for_others(session, request, attempt.holder or "")
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

    # -- closing ---------------------------------------------------------------------------------------

    async def cancel(self, token: str, requester_id: int) -> None:
        request = await self.by_token(token)
        if request is None:
            raise RequestRefused(WhyNot.UNKNOWN_REQUEST)
        if request.requester_id != requester_id:
            raise RequestRefused(WhyNot.NOT_REQUESTER)
        assert request.id is not None
        if await self.close(request.id, RequestStatus.CANCELLED, actor_id=requester_id) is None:
            raise RequestRefused(why_request_closed(request, utcnow()) or WhyNot.REQUEST_CANCELLED)

    async def expire_due(self) -> None:
        now = utcnow()
        async with self.db.transaction() as session:
            due = (
                await session.exec(
                    select(PayRequest.id).where(
                        PayRequest.status == RequestStatus.OPEN, col(PayRequest.expires_at) <= now
                    )
                )
            ).all()
        for request_id in due:
            assert request_id is not None
            try:  # each request alone: one that cannot be closed must not keep the others open
                await self.close(request_id, RequestStatus.EXPIRED, actor_id=None)
            except Exception:
                logging.getLogger(__name__).exception("expiring pay request %s failed", request_id)

    async def close(
        self, request_id: int, status: RequestStatus, *, actor_id: int | None
    ) -> list[PaymentReturned] | None:
        """Close an open request (its cards and, if it expired, its requester are told); give back every part
        friends paid into it: those refunds, or None if it was not open."""
        async with self.db.transaction() as session:
            closed = await session.exec(
                update(PayRequest)
                .where(col(PayRequest.id) == request_id, col(PayRequest.status) == RequestStatus.OPEN)
                .values(status=status, holder=None, holder_name=None, hold_until=None)
            )
            if closed.rowcount != 1:
                return None
            request = await session.get(PayRequest, request_id, populate_existing=True)
            assert request is not None
            await self.tellings.request_closed(session, request, status)
            await record_event(
                session, request.order_id, f"request_{status.value}", actor_id=actor_id, request_id=request_id
            )
            parts = (
                await session.exec(
                    select(Payment.id).where(
                        Payment.request_id == request_id,
                        col(Payment.credited).is_(True),
                        Payment.status == PaymentStatus.SUCCEEDED,
                    )
                )
            ).all()
        returned: list[PaymentReturned] = []
        why = ReturnReason.REQUEST_EXPIRED if status == RequestStatus.EXPIRED else ReturnReason.REQUEST_CANCELLED
        for payment_id in parts:
            assert payment_id is not None
            with contextlib.suppress(RefundRefused):  # refunded by someone else meanwhile
                returned.append(await self.refunds.refund(payment_id, reason=why, actor_id=actor_id))
        return returned

    # -- reminders and cards ---------------------------------------------------------------------------

    async def reminders_due(self) -> list[RequestView]:
        """Open requests about to expire whose requester was not reminded yet; each is claimed once."""
        now = utcnow()
        async with self.db.transaction() as session:
            due = (
                await session.exec(
                    select(PayRequest.id).where(
                        PayRequest.status == RequestStatus.OPEN,
                        col(PayRequest.reminded_at).is_(None),
                        col(PayRequest.expires_at) > now,
                        col(PayRequest.expires_at) <= now + self.rules.payforme_reminder,
                    )
                )
            ).all()
        views = []
        for request_id in due:
            async with self.db.transaction() as session:
                claimed = await session.exec(
                    update(PayRequest)
                    .where(col(PayRequest.id) == request_id, col(PayRequest.reminded_at).is_(None))
                    .values(reminded_at=now)
                )
            if claimed.rowcount == 1 and request_id is not None:
                view = await self.view_by_id(request_id)
                if view is not None:
                    views.append(view)
        return views

    async def add_card(self, token: str, *, inline_message_id: str) -> RequestCard | None:
        """Remember a card posted for the request (None if there is no such request)."""
        if not is_request_token(token):
            return None
        now = utcnow()
        async with self.db.alone() as connection:
            params = {"w_token": token, "v_inline_message_id": inline_message_id, "v_created_at": now}
            row = (await connection.execute(_ADD_CARD, params)).first()
        if row is None:
            return None
        card_id, request_id = row
        return RequestCard(id=card_id, request_id=request_id, inline_message_id=inline_message_id, created_at=now)
