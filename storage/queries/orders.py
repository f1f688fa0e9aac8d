"""Orders: by token (built once, read at every tap), by the message or request that made them, a person's own,
the ones past their time; and the keyset pages the admins' list and the shop API read, newest first."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, or_
from sqlmodel import asc, col, desc, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Order, OrderStatus, Payment, PayRequest, Shop

_BY_TOKEN = select(Order).where(col(Order.token) == bindparam("token"))  # built once: read at every tap


async def order_by_token(session: AsyncSession, *, token: str) -> Order | None:
    return (await session.exec(_BY_TOKEN, params={"token": token})).first()


async def order_of_request(session: AsyncSession, *, request_token: str) -> Order | None:
    """The order a pay-for-me request (by its token) is for."""
    statement = (
        select(Order)
        .join(PayRequest, col(PayRequest.order_id) == col(Order.id))
        .where(PayRequest.token == request_token)
    )
    return (await session.exec(statement)).first()


async def order_made_in(session: AsyncSession, *, shop_id: int, key: str, created_by: int | None) -> Order | None:
    """The order a chat message (its idempotency key) made for this person."""
    statement = select(Order).where(
        col(Order.shop_id) == shop_id,
        col(Order.idempotency_key) == key,
        col(Order.created_by) == created_by,
        col(Order.request_hash).is_(None),  # never an order of the shop API under the same key
    )
    return (await session.exec(statement)).first()


async def shop_id_named(session: AsyncSession, *, name: str) -> int:
    shop_id = (await session.exec(select(Shop.id).where(Shop.name == name))).one()
    assert shop_id is not None
    return shop_id


def _of_person(user_id: int) -> ColumnElement[bool]:
    """Orders the person created, paid or tried to pay, or asked friends to pay for."""
    paid_or_tried = select(Payment.order_id).where(Payment.payer_id == user_id)
    asked = select(PayRequest.order_id).where(PayRequest.requester_id == user_id)
    return or_(col(Order.created_by) == user_id, col(Order.id).in_(paid_or_tried), col(Order.id).in_(asked))


async def orders_of_person(session: AsyncSession, *, user_id: int, offset: int, limit: int) -> list[Order]:
    """The person's orders (_of_person); newest first."""
    statement = (
        select(Order)
        .where(_of_person(user_id))
        .order_by(desc(Order.created_at), desc(Order.id))
        .offset(offset)
        .limit(limit)
    )
    return list((await session.exec(statement)).all())


async def order_of_person(session: AsyncSession, *, user_id: int, order_id: int) -> Order | None:
    """The order, if it is one of the person's (_of_person)."""
    return (await session.exec(select(Order).where(col(Order.id) == order_id, _of_person(user_id)))).first()


async def orders_past_time(session: AsyncSession, *, statuses: Collection[OrderStatus], now: datetime) -> list[int]:
    """Orders in one of these states whose time ran out by now."""
    due = select(Order.id).where(col(Order.status).in_(statuses), col(Order.expires_at) <= now)
    return [order_id for order_id in (await session.exec(due)).all() if order_id is not None]


async def orders_with_shop_names(
    session: AsyncSession, *, since: datetime, until: datetime, after_id: int, limit: int
) -> Sequence[tuple[Order, str]]:
    """Orders created in [since, until) with ids after after_id, by id, each with its shop's name."""
    statement = (
        select(Order, Shop.name)
        .join(Shop, col(Shop.id) == col(Order.shop_id))
        .where(col(Order.id) > after_id, col(Order.created_at) >= since, col(Order.created_at) < until)
        .order_by(col(Order.id))
        .limit(limit)
    )
    return (await session.exec(statement)).all()


async def shop_order(session: AsyncSession, *, shop_id: int, order_id: int) -> Order | None:
    statement = select(Order).where(Order.id == order_id, Order.shop_id == shop_id)
    return (await session.exec(statement)).first()


# Keyset paging on (created_at, id), newest first: a page stays right while new orders arrive, and a late page
# costs what the first does.


def _older(created_at: datetime, order_id: int | None) -> ColumnElement[bool]:
    """Older than (created_at, order_id) in the lists' order (created_at, then id, both descending)."""
    return or_(col(Order.created_at) < created_at, and_(col(Order.created_at) == created_at, col(Order.id) < order_id))


def _newer(created_at: datetime, order_id: int | None) -> ColumnElement[bool]:
    return or_(col(Order.created_at) > created_at, and_(col(Order.created_at) == created_at, col(Order.id) > order_id))


def _listed(status: OrderStatus | None, text: str) -> list[ColumnElement[bool]]:
    """The admins' list's filters: a status, and text found in the title, the shop's id or the token."""
    filters: list[ColumnElement[bool]] = []
    if status is not None:
        filters.append(col(Order.status) == status)
    if text:
        pattern = _like(text)
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


async def listed_older(
    session: AsyncSession, *, status: OrderStatus | None, text: str, than: Order | None, limit: int
) -> list[Order]:
    """Orders of the admins' list older than the anchor (all, without one), newest first."""
    statement = select(Order).where(*_listed(status, text))
    if than is not None:
        statement = statement.where(_older(than.created_at, than.id))
    ordered = statement.order_by(desc(col(Order.created_at)), desc(col(Order.id))).limit(limit)
    return list((await session.exec(ordered)).all())


async def listed_newer(
    session: AsyncSession, *, status: OrderStatus | None, text: str, than: Order, limit: int
) -> list[Order]:
    """Orders of the admins' list newer than the anchor, oldest first."""
    statement = (
        select(Order)
        .where(*_listed(status, text), _newer(than.created_at, than.id))
        .order_by(asc(col(Order.created_at)), asc(col(Order.id)))
        .limit(limit)
    )
    return list((await session.exec(statement)).all())


async def any_listed(session: AsyncSession, *, status: OrderStatus | None, text: str, than: Order, older: bool) -> bool:
    """Whether the admins' list has an order older (or newer) than the anchor."""
    edge = (_older if older else _newer)(than.created_at, than.id)
    return (await session.exec(select(Order.id).where(*_listed(status, text), edge).limit(1))).first() is not None


async def shop_orders_page(
    session: AsyncSession,
    *,
    shop_id: int,
    status: OrderStatus | None,
    payable: Collection[OrderStatus],
    now: datetime,
    older_than: tuple[datetime, int] | None,
    limit: int,
) -> list[Order]:
    """A shop's orders, newest first, by the status shops see: an order in a payable state past its time
    counts as expired (payable names those states)."""
    statement = select(Order).where(Order.shop_id == shop_id)
    if status is not None:
        statement = statement.where(*_seen_as(status, payable, now))
    if older_than is not None:
        statement = statement.where(_older(*older_than))
    statement = statement.order_by(desc(Order.created_at), desc(Order.id)).limit(limit)
    return list((await session.exec(statement)).all())


def _seen_as(status: OrderStatus, payable: Collection[OrderStatus], now: datetime) -> tuple[Any, ...]:
    if status in payable:
        return col(Order.status) == status, col(Order.expires_at) > now
    if status == OrderStatus.EXPIRED:
        overdue = and_(col(Order.status).in_(payable), col(Order.expires_at) <= now)
        return (or_(col(Order.status) == status, overdue),)
    return (col(Order.status) == status,)
