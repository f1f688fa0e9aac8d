"""Orders' status moves and their event log: the conditional update and the insert every payment makes."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Update, bindparam, insert, update
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.database import keep_in_step, run_core
from storage.models import Order, OrderEvent, OrderStatus

# Events are only ever written here and read back by queries, never as objects of the session that wrote them:
# a Core INSERT on the session's connection, cheaper than adding an object for the flush to write.
_INSERT_EVENT = insert(OrderEvent)


async def insert_event(
    session: AsyncSession,
    *,
    order_id: int,
    kind: str,
    actor_id: int | None,
    detail: Mapping[str, Any],
    at: datetime,
) -> None:
    row = {"order_id": order_id, "kind": kind, "actor_id": actor_id, "detail": json.dumps(detail), "created_at": at}
    await run_core(session, _INSERT_EVENT, row)


@functools.cache
def _move(sources: frozenset[OrderStatus], columns: tuple[str, ...]) -> Update:
    """The conditional UPDATE that moves an order from one of these states, writing these columns; built once
    for each (a payment moves its order at least twice)."""
    orders = Order.__table__  # type: ignore[attr-defined]
    return (
        update(orders)
        .where(orders.c.id == bindparam("w_id"), orders.c.status.in_(sorted(sources)))
        .values({name: bindparam(f"v_{name}") for name in columns})
    )


async def move_order(
    session: AsyncSession, *, order_id: int, sources: frozenset[OrderStatus], values: Mapping[str, Any]
) -> bool:
    """Write the values if the order is in one of the source states; True if it was (the database decides)."""
    params = {"w_id": order_id, **{f"v_{name}": value for name, value in values.items()}}
    result = await run_core(session, _move(sources, tuple(values)), params)
    if result.rowcount != 1:
        return False
    keep_in_step(session, Order, order_id, values)
    return True


async def order_status(session: AsyncSession, *, order_id: int) -> OrderStatus | None:
    current = (await session.exec(select(Order.status).where(Order.id == order_id))).one_or_none()
    return None if current is None else OrderStatus(current)
