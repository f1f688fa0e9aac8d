"""The admins' list of orders (/orders): filtered by status or text, newest first, a page at a time."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from services.read_models import OrderInfo
from storage.database import Database
from storage.models import Order, OrderStatus
from storage.queries import orders

PAGE_SIZE = 10


@dataclass(frozen=True, slots=True)
class OrderFilter:
    status: OrderStatus | None = None
    text: str = ""


@dataclass(frozen=True, slots=True)
class OrderListPage:
    orders: list[OrderInfo]
    has_newer: bool
    has_older: bool

    @classmethod
    def of(cls, rows: list[Order], *, has_newer: bool, has_older: bool) -> OrderListPage:
        return cls([OrderInfo.of(row) for row in rows], has_newer, has_older)


class OrderListing:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def page(
        self, where: OrderFilter, *, older_than: int | None = None, newer_than: int | None = None
    ) -> OrderListPage:
        """A page of orders, newest first, after or before the order with the given id (keyset paging).

        Keyset on (created_at, id) rather than OFFSET: a page stays right while new orders arrive, and
        reading page 50 costs what reading page 1 does.
        """
        async with self.db.transaction() as session:
            anchor = await session.get(Order, newer_than or older_than) if (newer_than or older_than) else None
            if anchor is not None and newer_than is not None:
                newer = await _newer_page(session, where, anchor)
                if newer is not None:
                    return newer
                anchor = None  # back at the top: show the newest page, full
            rows = await orders.listed_older(
                session, status=where.status, text=where.text, than=anchor, limit=PAGE_SIZE + 1
            )
            page = rows[:PAGE_SIZE]
            has_newer = bool(page) and await orders.any_listed(
                session, status=where.status, text=where.text, than=page[0], older=False
            )
            return OrderListPage.of(page, has_newer=has_newer, has_older=len(rows) > PAGE_SIZE)


async def _newer_page(session: AsyncSession, where: OrderFilter, anchor: Order) -> OrderListPage | None:
    """The page just newer than the anchor; None when fewer than a page are newer (the newest page is shown)."""
    rows = await orders.listed_newer(session, status=where.status, text=where.text, than=anchor, limit=PAGE_SIZE + 1)
    if len(rows) <= PAGE_SIZE:
        return None
    page = rows[:PAGE_SIZE][::-1]
    has_older = await orders.any_listed(session, status=where.status, text=where.text, than=page[-1], older=True)
    return OrderListPage.of(page, has_newer=True, has_older=has_older)
