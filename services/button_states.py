"""What an admin's button stands for, kept in the database so that the tap works on whichever worker it reaches.

A state is recalled as often as needed (a search filter behind "Older »") or taken once (a refund's Yes: the
first tap takes it with a conditional UPDATE, so a second tap, on any worker, finds nothing). States are
for the person who was shown the button; a day later they are gone.
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import Any

from storage.database import Database
from storage.models import ButtonState, utcnow
from storage.queries import button_states as queries

KEPT_FOR = timedelta(days=1)


class ButtonStates:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def keep(self, user_id: int, kind: str, data: dict[str, Any]) -> str:
        """Store what a new button stands for; the id goes into its callback data."""
        state_id = secrets.token_hex(6)
        async with self.db.transaction() as session:
            # This person's stale states go as new ones come: no job needed, and the table stays small.
            await queries.delete_stale(session, user_id=user_id, made_before=utcnow() - KEPT_FOR)
            session.add(ButtonState(id=state_id, user_id=user_id, kind=kind, data=json.dumps(data)))
        return state_id

    async def recall(self, state_id: str, user_id: int, kind: str) -> dict[str, Any] | None:
        async with self.db.transaction() as session:
            row = await session.get(ButtonState, state_id)
        if row is None or row.user_id != user_id or row.kind != kind or row.created_at < utcnow() - KEPT_FOR:
            return None
        return dict(json.loads(row.data))

    async def take(self, state_id: str, user_id: int, kind: str) -> dict[str, Any] | None:
        """The state, to this tap only: None if it was taken before (here or on another worker) or is unknown."""
        async with self.db.transaction() as session:
            now = utcnow()
            row = await queries.take_state(
                session, state_id=state_id, user_id=user_id, kind=kind, made_since=now - KEPT_FOR, at=now
            )
        return None if row is None else dict(json.loads(row.data))
