"""The orders created in a range and their payments, for /export (presentation.orders_csv writes the CSV).

Read EXPORT_CHUNK orders at a time by keyset on the primary key (each chunk in its own short transaction),
with their payments in one query per chunk: memory holds one chunk, whatever the range.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from services.read_models import OrderInfo, PaymentInfo
from storage.database import Database
from storage.queries.charges import payments_of_orders
from storage.queries.orders import orders_with_shop_names

EXPORT_CHUNK = 500  # orders read per query while exporting


@dataclass(frozen=True, slots=True)
class ExportedOrder:
    order: OrderInfo
    shop_name: str
    payments: list[PaymentInfo]  # every attempt, oldest first; none for an order nobody tried to pay


class OrderExport:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def orders(self, since: datetime, until: datetime) -> AsyncIterator[ExportedOrder]:
        """The orders created in [since, until), oldest first, each with its payments."""
        last_id = 0
        while True:
            chunk = await self._chunk(since, until, after_id=last_id)
            if not chunk:
                return
            for exported in chunk:  # yielded outside the chunk's transaction: a slow reader holds none open
                yield exported
            last_id = chunk[-1].order.id

    async def _chunk(self, since: datetime, until: datetime, *, after_id: int) -> list[ExportedOrder]:
        async with self.db.transaction() as session:
            orders = await orders_with_shop_names(
                session, since=since, until=until, after_id=after_id, limit=EXPORT_CHUNK
            )
            if not orders:
                return []
            payments: dict[int, list[PaymentInfo]] = {}
            order_ids = [order.id for order, _shop in orders if order.id is not None]
            found = await payments_of_orders(session, order_ids=order_ids, credited_only=False)
            for charge in found:
                payments.setdefault(charge.order_id, []).append(PaymentInfo.of(charge))
            return [
                ExportedOrder(OrderInfo.of(order), shop_name, payments.get(order.id or 0, []))
                for order, shop_name in orders
            ]
