"""Where a person is in a guided flow, kept in the database: any worker can handle their next message.

One flow per person at a time; starting another replaces it. A flow left alone for an hour is over.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import delete as core_delete
from sqlmodel import col, delete, update

from storage.database import Database
from storage.models import ConversationFlow, utcnow

ABANDONED_AFTER = timedelta(hours=1)
_flows = ConversationFlow.__table__  # type: ignore[attr-defined]
_FLOW_COLUMNS = ("user_id", "flow", "step", "data", "updated_at")
# Ends the flow only at the step the tap was made for, so a repeated tap takes it once (built once: a guided
# step is taken at every tap of its button).
_TAKE = (
    core_delete(_flows)
    .where(
        _flows.c.user_id == bindparam("w_user_id"),
        _flows.c.flow == bindparam("w_flow"),
        _flows.c.step == bindparam("w_step"),
    )
    .returning(_flows.c.data, _flows.c.updated_at)
)


@dataclass(frozen=True, slots=True)
class Flow:
    name: str
    step: str
    data: dict[str, Any] = field(default_factory=dict)


class Flows:
    def __init__(self, db: Database) -> None:
        self.db = db
        # One statement whether or not the person has a flow: the same person starting twice at once, on two
        # workers, ends with one of the two, never with an error. Built once: a flow begins at many taps.
        starting = db.insert(_flows).values({name: bindparam(f"v_{name}") for name in _FLOW_COLUMNS})
        self._begin = starting.on_conflict_do_update(
            index_elements=[_flows.c.user_id],
            set_={name: starting.excluded[name] for name in _FLOW_COLUMNS if name != "user_id"},
        )

    async def begin(self, user_id: int, name: str, step: str, data: dict[str, Any] | None = None) -> None:
        values = {"v_user_id": user_id, "v_flow": name, "v_step": step, "v_data": json.dumps(data or {})}
        async with self.db.alone() as connection:
            await connection.execute(self._begin, {**values, "v_updated_at": utcnow()})

    async def current(self, user_id: int) -> Flow | None:
        async with self.db.reading() as session:
            row = await session.get(ConversationFlow, user_id)
        if row is None or row.updated_at < utcnow() - ABANDONED_AFTER:
            return None
        return Flow(row.flow, row.step, json.loads(row.data))

    async def advance(self, user_id: int, name: str, *, from_step: str, to_step: str, data: dict[str, Any]) -> bool:
        """Move the flow on, only if it is still at from_step: a repeated tap or message moves it once."""
        async with self.db.alone() as connection:
            moved = await connection.execute(
                update(ConversationFlow)
                .where(
                    col(ConversationFlow.user_id) == user_id,
                    col(ConversationFlow.flow) == name,
                    col(ConversationFlow.step) == from_step,
                )
                .values(step=to_step, data=json.dumps(data), updated_at=utcnow())
            )
        return moved.rowcount == 1

    async def take(self, user_id: int, name: str, *, at_step: str) -> Flow | None:
        """End the person's flow if it is this one at this step, and return it: a repeated tap takes it once."""
        async with self.db.alone() as connection:
            taken = await connection.execute(_TAKE, {"w_user_id": user_id, "w_flow": name, "w_step": at_step})
            row = taken.first()
        if row is None or row.updated_at < utcnow() - ABANDONED_AFTER:
            return None
        return Flow(name, at_step, json.loads(row.data))

    async def end(self, user_id: int, name: str | None = None, *, at_step: str | None = None) -> bool:
        """End the person's flow (only this one, or only at this step, when given); True if one ended."""
        statement = delete(ConversationFlow).where(col(ConversationFlow.user_id) == user_id)
        if name is not None:
            statement = statement.where(col(ConversationFlow.flow) == name)
        if at_step is not None:
            statement = statement.where(col(ConversationFlow.step) == at_step)
        async with self.db.alone() as connection:
            ended = await connection.execute(statement)
        return ended.rowcount == 1
