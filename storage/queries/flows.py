"""Where a person is in a guided flow (conversation_flows): one row per person, on a connection of its own."""

from __future__ import annotations

import functools
import json
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import delete as core_delete
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, delete, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.database import dialect_insert
from storage.models import ConversationFlow

_flows = ConversationFlow.__table__  # type: ignore[attr-defined]
_COLUMNS = ("user_id", "flow", "step", "data", "updated_at")
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


@functools.cache
def _begin(dialect_name: str) -> Any:
    """One statement whether or not the person has a flow: the same person starting twice at once, on two workers,
    ends with one of the two, never with an error. Built once per dialect: a flow begins at many taps."""
    starting = dialect_insert(dialect_name, _flows).values({name: bindparam(f"v_{name}") for name in _COLUMNS})
    return starting.on_conflict_do_update(
        index_elements=[_flows.c.user_id],
        set_={name: starting.excluded[name] for name in _COLUMNS if name != "user_id"},
    )


async def begin_flow(
    connection: AsyncConnection, *, user_id: int, flow: str, step: str, data: dict[str, Any], at: datetime
) -> None:
    values = {"v_user_id": user_id, "v_flow": flow, "v_step": step, "v_data": json.dumps(data), "v_updated_at": at}
    await connection.execute(_begin(connection.dialect.name), values)


async def flow_of(session: AsyncSession, *, user_id: int) -> ConversationFlow | None:
    return await session.get(ConversationFlow, user_id)


async def advance_flow(
    connection: AsyncConnection,
    *,
    user_id: int,
    flow: str,
    from_step: str,
    to_step: str,
    data: dict[str, Any],
    at: datetime,
) -> bool:
    """Move the flow on, only if it is still at from_step; True if it moved."""
    moved = await connection.execute(
        update(ConversationFlow)
        .where(
            col(ConversationFlow.user_id) == user_id,
            col(ConversationFlow.flow) == flow,
            col(ConversationFlow.step) == from_step,
        )
        .values(step=to_step, data=json.dumps(data), updated_at=at)
    )
    return bool(moved.rowcount == 1)


async def take_flow(
    connection: AsyncConnection, *, user_id: int, flow: str, at_step: str
) -> tuple[dict[str, Any], datetime] | None:
    """End the person's flow if it is this one at this step: its data and when it last moved."""
    row = (await connection.execute(_TAKE, {"w_user_id": user_id, "w_flow": flow, "w_step": at_step})).first()
    return None if row is None else (json.loads(row.data), row.updated_at)


async def end_flow(connection: AsyncConnection, *, user_id: int, flow: str | None, at_step: str | None) -> bool:
    """End the person's flow (only this one, or only at this step, when given); True if one ended."""
    statement = delete(ConversationFlow).where(col(ConversationFlow.user_id) == user_id)
    if flow is not None:
        statement = statement.where(col(ConversationFlow.flow) == flow)
    if at_step is not None:
        statement = statement.where(col(ConversationFlow.step) == at_step)
    ended = await connection.execute(statement)
    return bool(ended.rowcount == 1)
