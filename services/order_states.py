"""The one place that moves an order between states, by conditional updates that report success.

A transition is `UPDATE orders SET status = :to WHERE id = :id AND status IN (:allowed sources)`:
correct under concurrent writers on SQLite and PostgreSQL alike, because the database, not a value
read earlier, decides. An illegal or lost transition is refused with the order's actual state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.callback_outbox import KINDS, enqueue_callback
from storage.models import OrderStatus, utcnow
from storage.queries.order_events import insert_event, move_order, order_status

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


async def record_event(
    session: AsyncSession, order_id: int, kind: str, *, actor_id: int | None = None, **detail: Any
) -> None:
    await insert_event(session, order_id=order_id, kind=kind, actor_id=actor_id, detail=detail, at=utcnow())


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
    if await move_order(session, order_id=order_id, sources=SOURCES.get(to, frozenset()), values=written):
        await record_event(session, order_id, to.value, actor_id=actor_id, **detail)
        if to in KINDS:
            await enqueue_callback(session, order_id, KINDS[to])
        return Transition(True, to)
    current = await order_status(session, order_id=order_id)
    if current is None:
        return Transition(False, to, "unknown order")
    return Transition(False, current, f"an order that is {current.value} cannot become {to.value}")
