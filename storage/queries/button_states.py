"""What admins' buttons stand for (button_states)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, delete, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import ButtonState


async def delete_stale(session: AsyncSession, *, user_id: int, made_before: datetime) -> None:
    await session.exec(
        delete(ButtonState).where(col(ButtonState.user_id) == user_id, col(ButtonState.created_at) < made_before)
    )


async def take_state(
    session: AsyncSession, *, state_id: str, user_id: int, kind: str, made_since: datetime, at: datetime
) -> ButtonState | None:
    """Mark the state used if it is this person's, of this kind, unused and recent; the state if it was."""
    taken = await session.exec(
        update(ButtonState)
        .where(
            col(ButtonState.id) == state_id,
            col(ButtonState.user_id) == user_id,
            col(ButtonState.kind) == kind,
            col(ButtonState.used_at).is_(None),
            col(ButtonState.created_at) >= made_since,
        )
        .values(used_at=at)
    )
    if taken.rowcount != 1:
        return None
    return await session.get(ButtonState, state_id)
