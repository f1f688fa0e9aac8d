"""The people daifu knows (users)."""

from __future__ import annotations

from sqlalchemy import bindparam
from sqlalchemy import select as core_select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.database import run_core
from storage.models import User

_users = User.__table__  # type: ignore[attr-defined]
_LOCK = core_select(_users.c.id).where(_users.c.id == bindparam("user_id")).with_for_update()  # read at every ask


async def lock_user(session: AsyncSession, *, user_id: int) -> None:
    """Hold the person's row until the transaction ends (PostgreSQL: FOR UPDATE; SQLite writes one at a time)."""
    await run_core(session, _LOCK, {"user_id": user_id})
