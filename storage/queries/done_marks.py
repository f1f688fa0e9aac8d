"""Done marks: rows finished together (updates of the inbox, tellings) marked done by one UPDATE."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Update, bindparam, update
from sqlalchemy.ext.asyncio import AsyncConnection


@functools.cache
def _marking(table: Any, key: str) -> Update:
    """Built once for each table, for any number of ids (an expanding IN), so it is compiled once."""
    return update(table).where(table.c[key].in_(bindparam("w_ids", expanding=True))).values(done_at=bindparam("v_at"))


async def mark_done(connection: AsyncConnection, *, model: Any, key: str, ids: Sequence[int], at: datetime) -> None:
    """Set done_at on the rows of the model's table whose column `key` is one of the ids."""
    await connection.execute(_marking(model.__table__, key), {"w_ids": list(ids), "v_at": at})
