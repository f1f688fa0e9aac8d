"""What the operations endpoints ask of the database: that it answers, and how many callbacks to shops wait."""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import CallbackDelivery


async def ping(session: AsyncSession) -> None:
    """A round trip that touches no table: the database is up and this process can reach it."""
    await session.exec(select(text("1")))


async def count_undelivered_callbacks(session: AsyncSession) -> int:
    statement = select(func.count()).select_from(CallbackDelivery).where(col(CallbackDelivery.delivered_at).is_(None))
    return int((await session.exec(statement)).one())
