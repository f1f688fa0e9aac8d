"""Messages that still offer to pay, share, cancel or chip in for an order or request (live_messages)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import LiveMessage, Order, Payment, PayRequest


async def add_live_message(session: AsyncSession, *, values: dict[str, Any]) -> None:
    session.add(LiveMessage(**values))


async def add_live_messages(connection: AsyncConnection, *, rows: Sequence[dict[str, Any]]) -> None:
    """Several messages in one INSERT (one statement: a list of a dozen requests costs what one does)."""
    if rows:
        await connection.execute(insert(LiveMessage).values(list(rows)))


async def subjects_finished(
    session: AsyncSession, *, order_ids: Collection[int], request_ids: Collection[int]
) -> tuple[dict[int, str], dict[int, str]]:
    """The statuses of these orders and requests, by id, in two reads."""
    orders = (await session.exec(select(Order.id, Order.status).where(col(Order.id).in_(order_ids)))).all()
    requests = (
        await session.exec(select(PayRequest.id, PayRequest.status).where(col(PayRequest.id).in_(request_ids)))
    ).all()
    return (
        {order_id: str(status) for order_id, status in orders if order_id is not None},
        {request_id: str(status) for request_id, status in requests if request_id is not None},
    )


async def checkout_subject(session: AsyncSession, *, checkout_ref: str) -> tuple[int, int | None] | None:
    """The order and request (if any) a checkout was opened for."""
    found = (
        await session.exec(
            select(Payment.order_id, Payment.request_id).where(col(Payment.checkout_ref) == checkout_ref)
        )
    ).first()
    return None if found is None else (found[0], found[1])


async def subject_statuses(
    session: AsyncSession, *, order_id: int, request_id: int | None
) -> tuple[Order | None, PayRequest | None]:
    order = await session.get(Order, order_id, populate_existing=True)
    request = None if request_id is None else await session.get(PayRequest, request_id, populate_existing=True)
    return order, request


async def live_messages_of(session: AsyncSession, *, order_id: int | None, request_id: int | None) -> list[LiveMessage]:
    """The messages of the request, if one is named, else of the order (its requests' too); oldest first."""
    if request_id is not None:
        where = col(LiveMessage.request_id) == request_id
    else:
        where = col(LiveMessage.order_id) == order_id
    return list((await session.exec(select(LiveMessage).where(where).order_by(col(LiveMessage.id)))).all())


async def forget_live_messages(session: AsyncSession, *, ids: Sequence[int]) -> None:
    if ids:
        await session.exec(delete(LiveMessage).where(col(LiveMessage.id).in_(ids)))


async def live_messages_of_kind(session: AsyncSession, *, request_id: int, kind: str) -> list[LiveMessage]:
    """The request's messages of one kind still remembered (not tidied), oldest first."""
    statement = (
        select(LiveMessage)
        .where(col(LiveMessage.request_id) == request_id, col(LiveMessage.kind) == kind)
        .order_by(col(LiveMessage.id))
    )
    return list((await session.exec(statement)).all())
