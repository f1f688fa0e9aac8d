"""Reading pay-for-me requests: by token or id, with their cards, a person's own, and whether a friend may pay one."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from services.config import ShopRules
from services.pay_requests import RequestRefused, RequestView, is_held_by_other, is_request_token
from services.read_models import CardInfo, OrderInfo, PaymentInfo, RequestInfo
from services.telling_rows import Charge
from services.users import Users
from services.why_not import WhyNot, why_not_request
from storage.database import Database
from storage.models import RequestMode, RequestStatus, utcnow
from storage.queries import attempts, charges
from storage.queries.pay_requests import newest_requests_of, request_by_token, request_with_order
from storage.queries.request_cards import cards_of


async def kept_for_others(session: AsyncSession, request_id: int, holder: str, *, hold: timedelta) -> int:
    """The parts of chip-ins other friends started within the hold time and have not finished."""
    return await attempts.kept_for_others(session, request_id=request_id, holder=holder, since=utcnow() - hold)


async def _contributions(session: AsyncSession, request: RequestInfo) -> list[PaymentInfo]:
    # Crediting a single request closes it in the same transaction, and a split one counts what it was
    # credited in covered_minor: an open request with nothing covered has no contributions to read.
    if request.status == RequestStatus.OPEN and (request.mode == RequestMode.SINGLE or not request.covered_minor):
        return []
    return [
        PaymentInfo.of_columns(payment) for payment in await charges.contributions_to(session, request_id=request.id)
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
            request = await request_by_token(session, token=token)
            return None if request is None else RequestInfo.of(request)

    async def view(self, token: str) -> RequestView:
        if not is_request_token(token):
            raise RequestRefused(WhyNot.UNKNOWN_REQUEST)
        view = await self._view_where(token)
        if view is None:
            raise RequestRefused(WhyNot.UNKNOWN_REQUEST)
        return view

    async def view_by_id(self, request_id: int) -> RequestView | None:
        return await self._view_where(request_id)

    async def view_with_cards(
        self, request_id: int, *, written: Charge | None = None
    ) -> tuple[RequestView, list[CardInfo]] | None:
        """The request as it is now, and the cards showing it in chats: what a refresh of its cards needs.

        written: the charge that paid the request, with its order and the request, as the paying transaction wrote
        them (Claimed.written): the request's last state, so only its cards are read."""
        request = None if written is None else written[2]
        if written is not None and request is not None and request.id == request_id:
            payment, order = written[0], written[1]
            async with self.db.reading() as session:
                cards = [CardInfo.of_columns(card) for card in await cards_of(session, request_id=request_id)]
            name = await self.users.name_of(request.requester_id)
            return RequestView(request, order, name, [payment]), cards
        async with self.db.reading() as session:
            view = await self._view_in(session, request_id)
            if view is None:
                return None
            cards = [CardInfo.of_columns(card) for card in await cards_of(session, request_id=request_id)]
        return view, cards

    async def _view_where(self, key: str | int, *, for_holder: str | None = None) -> RequestView | None:
        async with self.db.reading() as session:
            return await self._view_in(session, key, for_holder=for_holder)

    async def _view_in(
        self, session: AsyncSession, key: str | int, *, for_holder: str | None = None
    ) -> RequestView | None:
        """The view of the request with this token (a str) or id (an int)."""
        row = await request_with_order(session, key=key)
        if row is None:
            return None
        request, order = RequestInfo.of_columns(row[0]), OrderInfo.of_columns(row[1])
        contributions = await _contributions(session, request)
        kept = 0
        if for_holder is not None and request.mode == RequestMode.SPLIT and request.status == RequestStatus.OPEN:
            kept = await kept_for_others(session, request.id, for_holder, hold=self.rules.payforme_hold)
        name = await self.users.name_of(request.requester_id)
        return RequestView(request, order, name, contributions, kept)

    async def payable(self, token: str, *, holder: str) -> RequestView:
        """The request, if this person may pay (part of) it now; otherwise RequestRefused says why."""
        if not is_request_token(token):
            raise RequestRefused(WhyNot.UNKNOWN_REQUEST)
        view = await self._view_where(token, for_holder=holder)
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
            row = await charges.contribution_to_requester(session, payment_id=payment_id, requester_id=requester_id)
            return None if row is None else PaymentInfo.of(row)

    async def list_for(self, requester_id: int, limit: int = 10) -> list[RequestView]:
        async with self.db.transaction() as session:
            rows = await newest_requests_of(session, requester_id=requester_id, limit=limit)
            found = []
            for request_row, order_row in rows:
                request = RequestInfo.of(request_row)
                found.append((request, OrderInfo.of(order_row), await _contributions(session, request)))
        name = await self.users.name_of(requester_id)
        return [RequestView(request, order, name, contributions) for request, order, contributions in found]
