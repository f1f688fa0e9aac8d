"""The shop callbacks' outbox (callback_deliveries): the rows due, the lease one worker takes on them, what
became of a try, and how the outbox is doing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlmodel import col, desc, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import CallbackDelivery, Shop
from storage.queries.leases import lapsed

_UNDELIVERED = col(CallbackDelivery.delivered_at).is_(None)
# Undelivered rows are found through ix_callback_deliveries_due (delivered_at, next_attempt_at).
_FAILING = (_UNDELIVERED, col(CallbackDelivery.attempts) > 0)


def _due(now: datetime) -> tuple[Any, ...]:
    """Undelivered, its next try due at now, and no worker holding it."""
    return (_UNDELIVERED, col(CallbackDelivery.next_attempt_at) <= now, lapsed(CallbackDelivery, now))


async def due_callbacks(session: AsyncSession, *, now: datetime, limit: int) -> list[int]:
    """The rows due at now, the longest due first."""
    candidates = (
        select(CallbackDelivery.id).where(*_due(now)).order_by(col(CallbackDelivery.next_attempt_at)).limit(limit)
    )
    return [row_id for row_id in (await session.exec(candidates)).all() if row_id is not None]


async def lease_callbacks(session: AsyncSession, *, ids: Sequence[int], now: datetime, until: datetime) -> list[int]:
    """Those of the rows still due at now that this worker took until the moment. The conditions are asked
    again in the UPDATE: of two workers that picked the same rows, each row goes to one."""
    taken = await session.exec(
        update(CallbackDelivery)
        .where(col(CallbackDelivery.id).in_(ids), *_due(now))
        .values(leased_until=until)
        .returning(col(CallbackDelivery.id))
    )
    return [row_id for (row_id,) in taken.all()]


async def callbacks_with_secrets(
    session: AsyncSession, *, ids: Sequence[int]
) -> list[tuple[CallbackDelivery, str | None]]:
    """The rows, each with its shop's callback secret as stored (sealed when SECRETS_KEY is set)."""
    rows = await session.exec(
        select(CallbackDelivery, Shop.callback_secret)
        .join(Shop, Shop.id == CallbackDelivery.shop_id)  # type: ignore[arg-type]
        .where(col(CallbackDelivery.id).in_(ids))
    )
    return [(row, secret) for row, secret in rows.all()]


async def record_try(session: AsyncSession, *, delivery_id: int, values: Mapping[str, object]) -> None:
    """What became of a try: delivered, or when to try again (and why not)."""
    await session.exec(update(CallbackDelivery).where(col(CallbackDelivery.id) == delivery_id).values(**values))


async def count_undelivered(session: AsyncSession) -> int:
    return int((await session.exec(select(func.count()).select_from(CallbackDelivery).where(_UNDELIVERED))).one())


async def count_failing(session: AsyncSession) -> int:
    """Undelivered rows a shop has refused or not answered at least once."""
    return int((await session.exec(select(func.count()).select_from(CallbackDelivery).where(*_FAILING))).one())


async def most_failing(session: AsyncSession, *, limit: int) -> list[CallbackDelivery]:
    """The failing rows with the most tries."""
    statement = (
        select(CallbackDelivery)
        .where(*_FAILING)
        .order_by(desc(col(CallbackDelivery.attempts)), col(CallbackDelivery.id))
        .limit(limit)
    )
    return list((await session.exec(statement)).all())
