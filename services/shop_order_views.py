"""A shop's orders as the shop API shows them: one read, or a page of them, always scoped to the shop.

Another shop's order is simply not found, so ids reveal nothing.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime

from services.order_states import PAYABLE
from services.read_models import OrderInfo, PaymentInfo
from services.shop_order_errors import Problem, ShopOrderError
from services.why_not import order_status_now
from storage.database import Database
from storage.models import Order, OrderStatus, utcnow
from storage.queries.charges import payments_of_orders
from storage.queries.orders import shop_order, shop_orders_page

PAGE_MAX = 100
ORDER_ID_MAX = 2**31 - 1  # orders.id is a 32-bit INTEGER: a larger id is unknown, not an error


@dataclass(frozen=True, slots=True)
class ShopOrder:
    order: OrderInfo
    charges: list[PaymentInfo] = field(default_factory=list)  # the credited charges: what was paid and refunded

    @property
    def status(self) -> OrderStatus:
        """The status a shop should see: an open order past its time is expired, swept or not."""
        return order_status_now(self.order, utcnow())


@dataclass(frozen=True, slots=True)
class OrderPage:
    orders: list[ShopOrder]
    next_cursor: str | None


def encode_cursor(order: Order) -> str:
    raw = f"{order.created_at.isoformat()}|{order.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, _, order_id = raw.partition("|")
        created_at, last_id = datetime.fromisoformat(when), int(order_id)
    except (ValueError, binascii.Error):
        raise ShopOrderError(Problem.BAD_REQUEST, "cursor is not one this API gave out") from None
    if created_at.tzinfo is None or not 0 < last_id <= ORDER_ID_MAX:
        raise ShopOrderError(Problem.BAD_REQUEST, "cursor is not one this API gave out")
    return created_at, last_id


class ShopOrderViews:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, shop_id: int, order_id: int) -> ShopOrder:
        return await self.view(await self.own(shop_id, order_id))

    async def own(self, shop_id: int, order_id: int) -> Order:
        """The shop's order by id; not found when it is another shop's."""
        order = None
        if 0 < order_id <= ORDER_ID_MAX:  # beyond the column's range PostgreSQL would fail, not answer
            async with self.db.transaction() as session:
                order = await shop_order(session, shop_id=shop_id, order_id=order_id)
        if order is None:
            raise ShopOrderError(Problem.NOT_FOUND, "no such order")
        return order

    async def view(self, order: Order) -> ShopOrder:
        return (await self._views([order]))[0]

    async def _views(self, orders: list[Order]) -> list[ShopOrder]:
        ids = [order.id for order in orders if order.id is not None]
        async with self.db.transaction() as session:
            found = await payments_of_orders(session, order_ids=ids, credited_only=True)
            charges = [PaymentInfo.of(charge) for charge in found]
        return [ShopOrder(OrderInfo.of(order), [c for c in charges if c.order_id == order.id]) for order in orders]

    async def page(self, shop_id: int, *, status: OrderStatus | None, limit: int, cursor: str | None) -> OrderPage:
        """The shop's orders, newest first; keyset paging on (created_at, id) so pages never shift."""
        if not 1 <= limit <= PAGE_MAX:
            raise ShopOrderError(Problem.BAD_REQUEST, f"limit must be 1 to {PAGE_MAX}")
        older_than = decode_cursor(cursor) if cursor is not None else None
        async with self.db.transaction() as session:
            rows = await shop_orders_page(
                session,
                shop_id=shop_id,
                status=status,
                payable=PAYABLE,
                now=utcnow(),
                older_than=older_than,
                limit=limit + 1,
            )
        more = len(rows) > limit
        rows = rows[:limit]
        return OrderPage(await self._views(rows), encode_cursor(rows[-1]) if more else None)
