"""The one place that moves an order between states, by conditional updates that report success.

A transition is `UPDATE orders SET status = :to WHERE id = :id AND status IN (:allowed sources)`:
correct under concurrent writers on SQLite and PostgreSQL alike, because the database, not a value
read earlier, decides. An illegal or lost transition is refused with the order's actual state.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Update, bindparam, insert, update
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.callback_outbox import KINDS, enqueue_callback
from storage.database import keep_in_step, run_core
from storage.models import Order, OrderEvent, OrderStatus, utcnow

S = OrderStatus
SOURCES: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PENDING: frozenset({S.OPEN}),
    S.PAID: frozenset({S.PENDING}),
    S.REFUNDED: frozenset({S.PAID}),
    S.CANCELLED: frozenset({S.OPEN, S.PENDING}),
    S.EXPIRED: frozenset({S.OPEN, S.PENDING}),
}
PAYABLE = frozenset({S.OPEN, S.PENDING})


@dataclass(frozen=True, slots=True)
class Transition:
    done: bool
    status: OrderStatus  # the state the order is in now
    reason: str = ""


# Events are only ever written here and read back by queries, never as objects of the session that wrote them:
# a Core INSERT on the session's connection, cheaper than adding an object for the flush to write.
_INSERT_EVENT = insert(OrderEvent)


async def record_event(
    session: AsyncSession, order_id: int, kind: str, *, actor_id: int | None = None, **detail: Any
) -> None:
    detail_text = json.dumps(detail)
    row = {"order_id": order_id, "kind": kind, "actor_id": actor_id, "detail": detail_text, "created_at": utcnow()}
    await run_core(session, _INSERT_EVENT, row)


@functools.cache
def _transition(to: OrderStatus, columns: tuple[str, ...]) -> Update:
    """The conditional UPDATE that moves an order to `to`, writing these columns; built once for each."""
    orders = Order.__table__  # type: ignore[attr-defined]
    return (
        update(orders)
        .where(orders.c.id == bindparam("w_id"), orders.c.status.in_(sorted(SOURCES.get(to, frozenset()))))
        .values({name: bindparam(f"v_{name}") for name in columns})
    )


async def move(
    session: AsyncSession,
    order_id: int,
    to: OrderStatus,
    *,
    actor_id: int | None = None,
    values: dict[str, Any] | None = None,
    **detail: Any,
) -> Transition:
    """Move the order to `to` if its current state allows it, logging the event in the same transaction."""
    written = {"status": to, **(values or {})}
    params = {"w_id": order_id, **{f"v_{name}": value for name, value in written.items()}}
    result = await run_core(session, _transition(to, tuple(written)), params)
    if result.rowcount == 1:
        keep_in_step(session, Order, order_id, written)
        await record_event(session, order_id, to.value, actor_id=actor_id, **detail)
        if to in KINDS:
            await enqueue_callback(session, order_id, KINDS[to])
        return Transition(True, to)
    current = (await session.exec(select(Order.status).where(Order.id == order_id))).one_or_none()
    if current is None:
        return Transition(False, to, "unknown order")
    current = OrderStatus(current)
    return Transition(False, current, f"an order that is {current.value} cannot become {to.value}")
