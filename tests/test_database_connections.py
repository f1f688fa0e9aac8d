"""PostgreSQL connections: a pooled connection the server dropped while it sat idle (a restart, a failover, a
proxy's idle timeout) is replaced before use, so the next transaction works; busy connections are not pinged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel.ext.asyncio.session import AsyncSession

import storage.database
from storage.database import Database
from tests.databases import DATABASES, PostgresDatabases


@pytest.fixture
async def pg(postgres: PostgresDatabases) -> AsyncIterator[Database]:
    if "postgres" not in DATABASES:
        pytest.skip("PostgreSQL is left out of DAIFU_TEST_DATABASES")
    database = Database(await postgres.fresh())
    yield database
    await database.dispose()


Sessions = Callable[[Database], AbstractAsyncContextManager[AsyncSession]]
# The two pools a worker keeps on PostgreSQL: transactions, and reads with single-statement writes (autocommit).
POOLS: dict[str, Sessions] = {"transactions": Database.transaction, "reads": Database.reading}


async def server_drops_the_pooled_connection(db: Database, sessions: Sessions = Database.transaction) -> None:
    """What a server restart does to an idle pooled connection: its backend is gone."""
    async with sessions(db) as session:
        pid = (await session.exec(text("SELECT pg_backend_pid()"))).one()[0]  # type: ignore[call-overload]
    other = Database(db.url)
    try:
        async with other.engine.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await other.dispose()


async def read_one(db: Database, sessions: Sessions = Database.transaction) -> int:
    async with sessions(db) as session:
        return int((await session.exec(text("SELECT 1"))).one()[0])  # type: ignore[call-overload]


@pytest.mark.parametrize("pool", POOLS)
async def test_a_connection_dropped_while_idle_is_replaced_before_it_is_used_again(
    pg: Database, monkeypatch: pytest.MonkeyPatch, pool: str
) -> None:
    assert await read_one(pg, POOLS[pool]) == 1
    await server_drops_the_pooled_connection(pg, POOLS[pool])
    monkeypatch.setattr(storage.database, "PING_AFTER_IDLE_SECONDS", 0.0)  # as if it had sat idle a while
    assert await read_one(pg, POOLS[pool]) == 1  # pinged, found dead, replaced: the person's update goes through


async def test_a_connection_in_steady_use_is_not_pinged_so_a_drop_fails_that_one_transaction(pg: Database) -> None:
    """The price of not pinging busy connections: the one transaction that meets a just-dropped connection
    fails (the update is retried), and the pool is renewed for the next one."""
    assert await read_one(pg) == 1
    await server_drops_the_pooled_connection(pg)
    with pytest.raises(DBAPIError):
        await read_one(pg)
    assert await read_one(pg) == 1


async def clock_twice(session: AsyncSession) -> tuple[object, object]:
    """now() is when the transaction began: two statements in one transaction read the same time."""
    first = (await session.exec(text("SELECT now()"))).one()[0]  # type: ignore[call-overload]
    await asyncio.sleep(0.01)
    return first, (await session.exec(text("SELECT now()"))).one()[0]  # type: ignore[call-overload]


async def test_reads_run_without_a_transaction_and_see_what_others_committed(pg: Database) -> None:
    async with pg.engine.begin() as connection:
        await connection.execute(text("CREATE TABLE notes (body TEXT)"))
    async with pg.reading() as reader:
        first, second = await clock_twice(reader)
        assert first != second  # no BEGIN: each statement is its own transaction
        async with pg.transaction() as writer:
            await writer.exec(text("INSERT INTO notes VALUES ('paid')"))  # type: ignore[call-overload]
        # Committed by another session after this reader's first statements: the next one sees it.
        assert (await reader.exec(text("SELECT body FROM notes"))).all() == [("paid",)]  # type: ignore[call-overload]
    async with pg.transaction() as session:
        first, second = await clock_twice(session)
        assert first == second
