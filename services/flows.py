"""Where a person is in a guided flow, kept in the database: any worker can handle their next message.

One flow per person at a time; starting another replaces it. A flow left alone for an hour is over.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from storage.database import Database
from storage.models import utcnow
from storage.queries.flows import advance_flow, begin_flow, end_flow, flow_of, take_flow

ABANDONED_AFTER = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Flow:
    name: str
    step: str
    data: dict[str, Any] = field(default_factory=dict)


class Flows:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def begin(self, user_id: int, name: str, step: str, data: dict[str, Any] | None = None) -> None:
        async with self.db.alone() as connection:
            await begin_flow(connection, user_id=user_id, flow=name, step=step, data=data or {}, at=utcnow())

    async def current(self, user_id: int) -> Flow | None:
        async with self.db.reading() as session:
            row = await flow_of(session, user_id=user_id)
        if row is None or row.updated_at < utcnow() - ABANDONED_AFTER:
            return None
        return Flow(row.flow, row.step, json.loads(row.data))

    async def advance(self, user_id: int, name: str, *, from_step: str, to_step: str, data: dict[str, Any]) -> bool:
        """Move the flow on, only if it is still at from_step: a repeated tap or message moves it once."""
        async with self.db.alone() as connection:
            return await advance_flow(
                connection, user_id=user_id, flow=name, from_step=from_step, to_step=to_step, data=data, at=utcnow()
            )

    async def take(self, user_id: int, name: str, *, at_step: str) -> Flow | None:
        """End the person's flow if it is this one at this step, and return it: a repeated tap takes it once."""
        async with self.db.alone() as connection:
            taken = await take_flow(connection, user_id=user_id, flow=name, at_step=at_step)
        if taken is None or taken[1] < utcnow() - ABANDONED_AFTER:
            return None
        return Flow(name, at_step, taken[0])

    async def end(self, user_id: int, name: str | None = None, *, at_step: str | None = None) -> bool:
        """End the person's flow (only this one, or only at this step, when given); True if one ended."""
        async with self.db.alone() as connection:
            return await end_flow(connection, user_id=user_id, flow=name, at_step=at_step)
