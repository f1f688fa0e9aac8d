"""What the operations endpoints ask of the database that no table family answers: that it answers at all."""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession


async def ping(session: AsyncSession) -> None:
    """A round trip that touches no table: the database is up and this process can reach it."""
    await session.exec(select(text("1")))
