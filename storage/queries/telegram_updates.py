"""The inbox of Telegram updates (telegram_updates): writing updates down as they arrive (built once per dialect:
at every update), setting aside one that cannot be parsed, the leases of those being handled, taking up the ones
a crashed worker left, and pruning the finished ones."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.database import AS_WRITTEN, dialect_insert
from storage.models import TelegramUpdate


@functools.cache
def _insert(dialect_name: str) -> Any:
    # One statement for any number of rows (executemany), so it is compiled once, not for every batch size.
    return (
        dialect_insert(dialect_name, TelegramUpdate).on_conflict_do_nothing().returning(col(TelegramUpdate.update_id))
    )


@functools.cache
def _reject(dialect_name: str) -> Any:
    rejecting = dialect_insert(dialect_name, TelegramUpdate)
    # A row already there and not done (taken in before it was known to be unparseable) is set aside too.
    return rejecting.on_conflict_do_update(
        index_elements=[col(TelegramUpdate.update_id)],
        set_={"done_at": rejecting.excluded.done_at, "rejection": rejecting.excluded.rejection},
        where=col(TelegramUpdate.done_at).is_(None),
    ).returning(col(TelegramUpdate.update_id))


async def insert_updates(connection: AsyncConnection, *, rows: Sequence[Mapping[str, Any]]) -> set[int]:
    """Write the updates down (update_id, payload, received_at); the ids that were not there before."""
    params = rows[0] if len(rows) == 1 else rows
    return set((await connection.execute(_insert(connection.dialect.name), params)).scalars())


async def reject_update(connection: AsyncConnection, *, row: Mapping[str, Any]) -> bool:
    """Keep the update, done, with the reason it was rejected; False if it was set aside or handled before."""
    rejected = await connection.execute(_reject(connection.dialect.name), row)
    return bool(rejected.scalars().all())


async def renew_leases(session: AsyncSession, *, update_ids: Sequence[int], until: datetime) -> None:
    """Extend the leases of the updates not done yet among these."""
    await session.exec(
        update(TelegramUpdate)
        .where(col(TelegramUpdate.update_id).in_(update_ids), col(TelegramUpdate.done_at).is_(None))
        .values(leased_until=until),
        execution_options=AS_WRITTEN,
    )


def _free(now: datetime) -> Any:
    return (col(TelegramUpdate.leased_until).is_(None)) | (col(TelegramUpdate.leased_until) <= now)


async def lost_updates(
    session: AsyncSession, *, besides: Sequence[int], received_by: datetime, now: datetime, limit: int
) -> list[int]:
    """Updates not done, received by the moment and leased by nobody now, but for those named, by id."""
    statement = (
        select(TelegramUpdate.update_id)
        .where(
            col(TelegramUpdate.done_at).is_(None),
            col(TelegramUpdate.update_id).not_in(besides),
            col(TelegramUpdate.received_at) <= received_by,
            _free(now),
        )
        .order_by(col(TelegramUpdate.update_id))
        .limit(limit)
    )
    return list((await session.exec(statement)).all())


async def claim_lost_update(
    session: AsyncSession, *, update_id: int, now: datetime, until: datetime
) -> dict[str, Any] | None:
    """Lease an update nobody holds (only one worker can) and read it: its payload, or None if it was taken."""
    claimed = await session.exec(
        update(TelegramUpdate)
        .where(col(TelegramUpdate.update_id) == update_id, col(TelegramUpdate.done_at).is_(None), _free(now))
        .values(leased_until=until)
    )
    if claimed.rowcount != 1:
        return None
    row = await session.get(TelegramUpdate, update_id)
    assert row is not None
    payload: dict[str, Any] = json.loads(row.payload)
    return payload


async def forget_done(session: AsyncSession, *, done_before: datetime, limit: int) -> int:
    """Delete up to limit updates done before the moment, oldest first; how many went."""
    finished = col(TelegramUpdate.done_at).is_not(None)
    oldest = (
        select(TelegramUpdate.update_id)
        .where(finished, col(TelegramUpdate.done_at) < done_before)
        .order_by(col(TelegramUpdate.done_at))
        .limit(limit)
    )
    ids = list((await session.exec(oldest)).all())
    if ids:
        await session.exec(delete(TelegramUpdate).where(col(TelegramUpdate.update_id).in_(ids), finished))
    return len(ids)
