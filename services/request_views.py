"""Reading pay-for-me requests: by token or id, with their cards, a person's own, and whether a friend may pay one."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import bindparam, func
from sqlmodel import col, desc, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from services.config import ShopRules
from services.pay_requests import RequestRefused, RequestView, is_held_by_other, is_request_token
from services.read_models import CardInfo, OrderInfo, PaymentInfo, RequestInfo
from services.users import Users
from services.why_not import WhyNot, why_not_request
from storage.database import Database
from storage.models import Order, Payment, PaymentStatus, PayRequest, RequestCard, RequestMode, RequestStatus, utcnow


def _with_order() -> Select[PayRequest, Order]:
    """A request with its order, in one query."""
    return select(PayRequest, Order).join(Order, col(Order.id) == col(PayRequest.order_id))


# Views are read several times for each tap and payment, so their statements are built once: building one
# (and its cache key) costs about as much CPU as SQLAlchemy's part of running it (bench.db_floor).
_VIEW_BY_TOKEN = _with_order().where(col(PayRequest.token) == bindparam("key"))
_VIEW_BY_ID = _with_order().where(col(PayRequest.id) == bindparam("key"))
_CARDS_OF = select(RequestCard).where(col(RequestCard.request_id) == bindparam("request_id"))
_CONTRIBUTIONS = (
    select(Payment)
    .where(col(Payment.request_id) == bindparam("request_id"), col(Payment.credited).is_(True))
    .order_by(col(Payment.id))
)


async def kept_for_others(session: AsyncSession, request_id: int, holder: str, *, hold: timedelta) -> int:
    """The parts of chip-ins other friends started within the hold time and have not finished."""
    statement = select(func.coalesce(func.sum(Payment.credit_minor), 0)).where(
        Payment.request_id == request_id,
        Payment.status == PaymentStatus.PENDING,
        col(Payment.holder).is_not(None),
        col(Payment.holder) != holder,
        col(Payment.created_at) > utcnow() - hold,
    )
    return int((await session.exec(statement)).one() or 0)


async def _contributions(session: AsyncSession, request: PayRequest) -> list[PaymentInfo]:
    # Crediting a single request closes it in the same transaction, and a split one counts what it was
    # credited in covered_minor: an open request with nothing covered has no contributions to read.
    if request.status == RequestStatus.OPEN and (request.mode == RequestMode.SINGLE or not request.covered_minor):
        return []
    return [
        PaymentInfo.of(payment) for payment in await session.exec(_CONTRIBUTIONS, params={"request_id": request.id})
    ]


class RequestViews:
    def __init__(self, db: Database, rules: ShopRules, users: Users) -> None:
        self.db = db
        self.rules = rules
        self.users = users

    async def by_token(self, token: str) -> RequestInfo | None:
        if not is_request_token(token):
            return None
        async with self.db.transaction() as session:
            request = (await session.exec(select(PayRequest).where(PayRequest.token == token))).first()
            return None if request is None else RequestInfo.of(request)

    async def view(self, token: str) -> RequestView:
        if not is_request_token(token):
            raise RequestRefused(WhyNot.UNKNOWN_REQUEST)
        view = await self._view_where(_VIEW_BY_TOKEN, token)
        if view is None:
            raise RequestRefused(WhyNot.UNKNOWN_REQUEST)
        return view

    async def view_by_id(self, request_id: int) -> RequestView | None:
        return await self._view_where(_VIEW_BY_ID, request_id)

    async def view_with_cards(self, request_id: int) -> tuple[RequestView, list[CardInfo]] | None:
        """The request as it is now, and the cards showing it in chats: what a refresh of its cards needs."""
        async with self.db.reading() as session:
            view = await self._view_in(session, _VIEW_BY_ID, request_id)
            if view is None:
                return None
            cards = [CardInfo.of(card) for card in (await session.exec(_CARDS_OF, params={"request_id": request_id}))]
        return view, cards

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
        contributions = await _contributions(session, request)
        kept = 0
        if for_holder is not None and request.mode == RequestMode.SPLIT and request.status == RequestStatus.OPEN:
            assert request.id is not None
            kept = await kept_for_others(session, request.id, for_holder, hold=self.rules.payforme_hold)
        name = await self.users.name_of(request.requester_id)
        return RequestView(RequestInfo.of(request), OrderInfo.of(order), name, contributions, kept)

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

    async def contribution(self, payment_id: int, *, requester_id: int) -> PaymentInfo | None:
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
            return None if row is None else PaymentInfo.of(row)

    async def list_for(self, requester_id: int, limit: int = 10) -> list[RequestView]:
        newest = (
            _with_order()
            .where(PayRequest.requester_id == requester_id)
            .order_by(desc(PayRequest.created_at), desc(PayRequest.id))
            .limit(limit)
        )
        async with self.db.transaction() as session:
            rows = (await session.exec(newest)).all()
            found = [
                (RequestInfo.of(request), OrderInfo.of(order), await _contributions(session, request))
                for request, order in rows
            ]
        name = await self.users.name_of(requester_id)
        return [RequestView(request, order, name, contributions) for request, order, contributions in found]
