"""A person's orders as /my shows them: the ones they made, paid or asked friends to pay for, each with their newest
request for it and who paid it; newest first, a page at a time, or one of them opened."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from services.read_models import OrderInfo, PaymentInfo, RequestInfo
from services.users import Users
from storage.database import Database
from storage.models import Order
from storage.queries.charges import payments_of_orders
from storage.queries.orders import order_of_person, orders_of_person
from storage.queries.pay_requests import requests_of_for_orders


@dataclass(frozen=True, slots=True)
class PersonOrder:
    """An order as one person sees it."""

    order: OrderInfo
    request: RequestInfo | None  # their newest request for it, if they asked friends to pay
    charges: list[PaymentInfo]  # credited to the order, oldest first
    # Who paid the charges not the person's own, by charge id: "" for a friend who chose to stay anonymous.
    names: dict[int, str]

    @property
    def friends(self) -> list[str]:
        """The names of the others who paid it, in order."""
        return [self.names[charge.id] for charge in self.charges if charge.id in self.names]

    def own_charge(self, user_id: int) -> PaymentInfo | None:
        """What the person paid themselves (the newest such charge), for their receipt."""
        return next((charge for charge in reversed(self.charges) if charge.payer_id == user_id), None)


@dataclass(frozen=True, slots=True)
class PersonOrderPage:
    orders: list[PersonOrder]
    page: int
    has_more: bool


class PersonOrders:
    def __init__(self, db: Database, users: Users) -> None:
        self.db = db
        self.users = users

    async def page(self, user_id: int, page: int, size: int = 5) -> PersonOrderPage:
        """A page of the person's orders, newest first (0: the newest)."""
        async with self.db.reading() as session:
            found = await orders_of_person(session, user_id=user_id, offset=page * size, limit=size + 1)
            described = await self._described(session, user_id, found[:size])
        return PersonOrderPage(await self._named(user_id, described), page, len(found) > size)

    async def one(self, user_id: int, order_id: int) -> PersonOrder | None:
        """One of the person's orders; None if it is not theirs (or not there)."""
        async with self.db.reading() as session:
            order = await order_of_person(session, user_id=user_id, order_id=order_id)
            if order is None:
                return None
            described = await self._described(session, user_id, [order])
        return (await self._named(user_id, described))[0]

    async def _described(
        self, session: AsyncSession, user_id: int, orders: Sequence[Order]
    ) -> list[tuple[OrderInfo, RequestInfo | None, list[PaymentInfo]]]:
        """Each order with the person's newest request for it and its charges: three reads for a whole page."""
        ids = [order.id for order in orders if order.id is not None]
        if not ids:
            return []
        newest: dict[int, RequestInfo] = {}
        for request in await requests_of_for_orders(session, requester_id=user_id, order_ids=ids):
            newest[request.order_id] = RequestInfo.of(request)  # oldest first: the newest stays
        charges: dict[int, list[PaymentInfo]] = {}
        for payment in await payments_of_orders(session, order_ids=ids, credited_only=True):
            charges.setdefault(payment.order_id, []).append(PaymentInfo.of(payment))
        return [
            (info, newest.get(info.id), charges.get(info.id, [])) for info in (OrderInfo.of(order) for order in orders)
        ]

    async def _named(
        self, user_id: int, described: list[tuple[OrderInfo, RequestInfo | None, list[PaymentInfo]]]
    ) -> list[PersonOrder]:
        named = []
        for order, request, charges in described:
            names = {
                charge.id: (charge.payer_name or await self.users.name_of(charge.payer_id)) if charge.show_name else ""
                for charge in charges
                if charge.payer_id != user_id or charge.payer_id is None
            }
            named.append(PersonOrder(order, request, charges, names))
        return named
