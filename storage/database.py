"""The async engine and sessions, for SQLite (embedded default) and PostgreSQL (scale-out)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlmodel.ext.asyncio.session import AsyncSession

# For an UPDATE or DELETE through a session: leave the objects the session loaded as they are. By default
# SQLAlchemy compiles the statement's WHERE and SET into Python and applies them to every loaded object of
# its class: CPU spent on every such statement, more still on one built at each call (bench.db_floor,
# docs/benchmarks.md). A conditional update that matched its row knows what it wrote:
# keep_in_step applies just that.
AS_WRITTEN = {"synchronize_session": False}


async def run_core(
    session: AsyncSession, statement: Any, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]
) -> Any:
    """Run a Core statement (one built on a table, not a model) on the session's connection, in its transaction;
    a sequence of parameter sets runs it once for each, compiled once.

    For the writes every payment makes: the ORM's part of an UPDATE costs CPU (bench.db_floor,
    docs/benchmarks.md) and buys nothing where no object is involved.
    """
    connection = await session.connection()
    return await connection.execute(statement, params)


def dialect_insert(dialect_name: str, model: Any) -> Any:
    """An INSERT in the named dialect, which takes ON CONFLICT clauses (both spell them alike)."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    return dialect.insert(model)


def keep_in_step(session: AsyncSession, model: type[Any], key: Any, values: Mapping[str, Any]) -> None:
    """After a conditional UPDATE that left the session's objects alone (run_core, or AS_WRITTEN) matched its row:
    the object this session loaded for that row (if any) shows the values written, as loaded state (nothing
    left to flush). Values must be plain values, not SQL expressions."""
    loaded = session.sync_session.identity_map.get(identity_key(model, key))
    if loaded is not None:
        for name, value in values.items():
            set_committed_value(loaded, name, value)


_AFTER_COMMIT = "daifu_after_commit"  # a key of the session's info


def after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Call callback once the transaction of this session (Database.transaction) has committed; never if it rolls
    back. For work that must see the change committed (waking the teller: services.telling)."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers go on while one writer commits; the busy timeout makes a second writer wait
    # instead of failing at once with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str, **options: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, **options)
        event.listen(engine.sync_engine, "connect", _tune_sqlite)
        return engine
    engine = create_async_engine(url, pool_recycle=RENEW_CONNECTIONS_AFTER, **options)
    event.listen(engine.sync_engine, "connect", _note_checkin)
    event.listen(engine.sync_engine, "checkin", _note_checkin)
    event.listen(engine.sync_engine, "checkout", _ping_if_idle)
    return engine


# SQLAlchemy's pool_pre_ping pings before every checkout: a round trip, and a large share of the bot's CPU
# per transaction. A connection in steady use is known to be alive; one left idle a while may have been dropped
# (a server restart, a failover, a proxy's idle timeout), so only those are pinged.
PING_AFTER_IDLE_SECONDS = 10.0
RENEW_CONNECTIONS_AFTER = 300  # seconds; before the idle timeouts of proxies and firewalls


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    if time.monotonic() - record.info.get("checked_in_at", 0.0) < PING_AFTER_IDLE_SECONDS:
        return
    try:
        dbapi_connection.ping()
    except Exception as error:
        # The pool throws this connection away and checks out (or opens) another one.
        raise DisconnectionError(f"a connection idle since its last use was dropped: {error}") from error


class Database:
    """Owns the engine; hands out one short transaction at a time."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self._autocommit: AsyncEngine | None = None
        if self.engine.dialect.name == "postgresql":
            # An engine (and pool) of its own rather than engine.execution_options(isolation_level=...): that
            # switches each connection's isolation level at checkout and back at checkin, and turns on event
            # dispatch for every statement: CPU every read paid, in Core or through the ORM (bench.db_floor).
            self._autocommit = make_engine(url, isolation_level="AUTOCOMMIT")
        self._readers = async_sessionmaker(self._autocommit or self.engine, class_=AsyncSession, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work is committed on success and rolled back on any exception."""
        async with self._sessions() as session:
            async with session.begin():
                yield session
            for callback in session.info.pop(_AFTER_COMMIT, ()):
                callback()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A session that only reads, for the reads every tap makes (a card, an offer, a pre-checkout check).

        On PostgreSQL its statements run without BEGIN and COMMIT: each sees what was committed before it
        started, as in a READ COMMITTED transaction, for two round trips less and the CPU they cost. Never write
        through it: on PostgreSQL each statement would commit by itself.
        """
        async with self._readers() as session:
            yield session

    @asynccontextmanager
    async def alone(self) -> AsyncIterator[AsyncConnection]:
        """A connection for a write that is one statement, atomic by itself (an inbox row, a guided step, a mark).

        On PostgreSQL the statement commits by itself, without BEGIN and COMMIT around it: two round trips less,
        and the CPU they cost, for writes made at every update. On SQLite it runs in a transaction committed on
        leaving the block. Run one statement in it (or several that need no transaction: each atomic by itself,
        on PostgreSQL each committed before the next begins), and read its result inside.
        """
        if self._autocommit is None:
            async with self.engine.begin() as connection:
                yield connection
        else:
            async with self._autocommit.connect() as connection:
                yield connection

    def insert(self, model: Any) -> Any:
        """An INSERT in this database's dialect, which takes ON CONFLICT clauses (both spell them alike)."""
        return dialect_insert(self.engine.dialect.name, model)

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._autocommit is not None:
            await self._autocommit.dispose()
