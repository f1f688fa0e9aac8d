"""The lease a worker takes on a row it takes up again (a refund, an orphan charge, a callback): leased_until,
free when empty or past. One conditional UPDATE decides which worker has the row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, update
from sqlmodel.ext.asyncio.session import AsyncSession


def lapsed(model: Any, now: datetime) -> Any:
    """No worker holds the row at this moment (never leased, or its lease ran out)."""
    return col(model.leased_until).is_(None) | (col(model.leased_until) <= now)


async def take_lease(
    session: AsyncSession, *, model: Any, row_id: int, status: str, now: datetime, until: datetime
) -> bool:
    """Whether this worker took the row (still in that status, free at now) until the moment."""
    claimed = await session.exec(
        update(model)
        .where(col(model.id) == row_id, col(model.status) == status, lapsed(model, now))
        .values(leased_until=until)
    )
    return bool(claimed.rowcount == 1)
