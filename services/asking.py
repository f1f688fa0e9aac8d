"""Asking friends to pay: a shopper turns an open order into a pay-for-me request."""

from __future__ import annotations

from services.config import ShopRules
from services.order_states import record_event
from services.orders import payable_in
from services.pay_requests import RequestRefused, RequestView, new_request_token
from services.read_models import OrderInfo, RequestInfo
from services.users import Users
from services.why_not import WhyNot
from storage.database import Database
from storage.models import PayRequest, RequestMode, utcnow
from storage.queries.pay_requests import open_requests_of
from storage.queries.users import lock_user


class Asking:
    def __init__(self, db: Database, rules: ShopRules, users: Users) -> None:
        self.db = db
        self.rules = rules
        self.users = users

    async def ask(
        self, order_token: str, requester_id: int, *, mode: RequestMode, shares: int | None = None, note: str = ""
    ) -> RequestView:
        """Turn an open order into a request; refused when the person already has too many open ones."""
        now = utcnow()
        async with self.db.transaction() as session:
            # Lock the requester's row so that two asks at once cannot both slip under the limit.
            await lock_user(session, user_id=requester_id)
            order = await payable_in(session, order_token)
            assert order.id is not None
            if not order.payforme_allowed:
                raise RequestRefused(WhyNot.NOT_ALLOWED)
            if await open_requests_of(session, requester_id=requester_id, now=now) >= self.rules.payforme_max_open:
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
            asked, of_order = RequestInfo.of(request), OrderInfo.of(order)
        return RequestView(asked, of_order, await self.users.name_of(requester_id), [])
