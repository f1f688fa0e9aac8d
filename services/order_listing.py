"""The admins' list of orders (/orders): filtered by status or text, newest first, a page at a time."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import asc, col, desc, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.read_models import OrderInfo
from storage.database import Database
from storage.models import Order, OrderStatus

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
        filters = _filters(where)
        async with self.db.transaction() as session:
            anchor = await session.get(Order, newer_than or older_than) if (newer_than or older_than) else None
            if anchor is not None and newer_than is not None:
                newer = await _newer_page(session, filters, anchor)
                if newer is not None:
                    return newer
                anchor = None  # back at the top: show the newest page, full
            statement = select(Order).where(*filters)
            if anchor is not None:
                statement = statement.where(_before(anchor))
            rows = list(
                (
                    await session.exec(
                        statement.order_by(desc(col(Order.created_at)), desc(col(Order.id))).limit(PAGE_SIZE + 1)
                    )
                ).all()
            )
            page = rows[:PAGE_SIZE]
            has_newer = bool(page) and await _exists(session, filters, _after(page[0]))
            return OrderListPage.of(page, has_newer=has_newer, has_older=len(rows) > PAGE_SIZE)


async def _newer_page(session: AsyncSession, filters: list[ColumnElement[bool]], anchor: Order) -> OrderListPage | None:
    """The page just newer than the anchor; None when fewer than a page are newer (the newest page is shown)."""
    rows = list(
        (
            await session.exec(
                select(Order)
                .where(*filters, _after(anchor))
                .order_by(asc(col(Order.created_at)), asc(col(Order.id)))
                .limit(PAGE_SIZE + 1)
            )
        ).all()
    )
    if len(rows) <= PAGE_SIZE:
        return None
    page = rows[:PAGE_SIZE][::-1]
    return OrderListPage.of(page, has_newer=True, has_older=await _exists(session, filters, _before(page[-1])))


def _filters(where: OrderFilter) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = []
    if where.status is not None:
        filters.append(col(Order.status) == where.status)
    if where.text:
        pattern = _like(where.text)
        filters.append(
            or_(
                col(Order.title).ilike(pattern, escape="\\"),
                col(Order.external_id).ilike(pattern, escape="\\"),
                col(Order.token).ilike(pattern, escape="\\"),
            )
        )
    return filters


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def _exists(session: AsyncSession, filters: list[ColumnElement[bool]], edge: ColumnElement[bool]) -> bool:
    return (await session.exec(select(Order.id).where(*filters, edge).limit(1))).first() is not None


def _before(anchor: Order) -> ColumnElement[bool]:
    """Older than the anchor in the list's order (created_at, then id, both descending)."""
    return or_(
        col(Order.created_at) < anchor.created_at,
        and_(col(Order.created_at) == anchor.created_at, col(Order.id) < anchor.id),
    )


def _after(anchor: Order) -> ColumnElement[bool]:
    return or_(
        col(Order.created_at) > anchor.created_at,
        and_(col(Order.created_at) == anchor.created_at, col(Order.id) > anchor.id),
    )
