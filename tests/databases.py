"""Fresh databases for tests: a new SQLite file, or a new PostgreSQL database cloned from a migrated template."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from storage.database import Database
from storage.migrate import upgrade_to_head

POSTGRES_URL = os.environ.get("DAIFU_TEST_POSTGRES_URL", "postgresql+asyncpg:///test?host=/var/run/postgresql")
# Both by default; a developer without PostgreSQL may narrow it (CI never does).
DATABASES = [name.strip() for name in os.environ.get("DAIFU_TEST_DATABASES", "sqlite,postgres").split(",")]
DROPS_AT_ONCE = 16
MADE_AHEAD = 3
T = TypeVar("T")


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _run_apart(make: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run set-up work on a loop of its own: session fixtures may be first asked for inside a test's loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(lambda: asyncio.run(make())).result()


class PostgresDatabases:
    """One migrated template per test process; each test gets its own copy of it.

    Copying the template and dropping a copy each take a tenth of a second, most of it the server waiting on the
    disk. A thread of its own does both beside the tests: it keeps a few copies made ahead, and drops a test's
    copy after the test, so no test waits for either and the run does not end on minutes of drops.
    """

    def __init__(self) -> None:
        self.prefix = f"daifu_t{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.template = f"{self.prefix}_template"
        self.made: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="test-databases", daemon=True)
        self._thread.start()
        self._engine = self._call(self._connect)
        self._ready: asyncio.Queue[str] | None = None
        self._maker: asyncio.Task[None] | None = None
        self._drops: set[asyncio.Task[None]] = set()

    async def _connect(self) -> AsyncEngine:
        return create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", pool_size=DROPS_AT_ONCE + 1)

    def _call(self, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
        return asyncio.run_coroutine_threadsafe(work(), self._loop).result()

    async def _admin(self, statement: str) -> None:
        async with self._engine.connect() as connection:
            await connection.execute(text(statement))

    def _name(self) -> str:
        name = f"{self.prefix}_{len(self.made)}"
        self.made.append(name)  # before it exists: whatever is begun is dropped at the end
        return name

    def create_template(self) -> None:
        async def make() -> None:
            await self._admin(f'CREATE DATABASE "{self.template}"')
            db = Database(_with_database(POSTGRES_URL, self.template))
            await upgrade_to_head(db)
            await db.dispose()
            self._ready = asyncio.Queue(maxsize=MADE_AHEAD)
            self._maker = asyncio.create_task(self._make_ahead(self._ready))

        self._call(make)

    async def _make_ahead(self, ready: asyncio.Queue[str]) -> None:
        while True:
            name = self._name()
            await self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
            await ready.put(name)

    async def fresh(self) -> str:
        async def take() -> str:
            assert self._ready is not None, "create_template first"
            return await self._ready.get()

        future = asyncio.run_coroutine_threadsafe(take(), self._loop)
        return _with_database(POSTGRES_URL, await asyncio.wrap_future(future))

    def discard(self, url: str) -> None:
        """The test that had this copy has ended: drop it beside the next tests."""
        name = make_url(url).database

        def start() -> None:
            task = self._loop.create_task(self._drop(name))
            self._drops.add(task)
            task.add_done_callback(self._drops.discard)

        self._loop.call_soon_threadsafe(start)

    async def _drop(self, name: str | None) -> None:
        await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    async def empty(self) -> str:
        """A database with nothing in it, not even the schema (as a shop's new one is)."""

        async def make() -> str:
            name = self._name()
            await self._admin(f'CREATE DATABASE "{name}"')
            return name

        future = asyncio.run_coroutine_threadsafe(make(), self._loop)
        return _with_database(POSTGRES_URL, await asyncio.wrap_future(future))

    def drop_all(self) -> None:
        async def drop() -> None:
            if self._maker is not None:
                self._maker.cancel()
                await asyncio.gather(self._maker, return_exceptions=True)
            await asyncio.gather(*self._drops, return_exceptions=True)
            at_once = asyncio.Semaphore(DROPS_AT_ONCE)

            async def drop_one(name: str) -> None:
                async with at_once:
                    await self._drop(name)

            # IF EXISTS: most were dropped after their test already; this catches the rest.
            await asyncio.gather(*(drop_one(name) for name in self.made))
            await self._drop(self.template)
            await self._engine.dispose()

        try:
            self._call(drop)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()


class SqliteDatabases:
    """One migrated SQLite file per test process; each test gets a copy of it. Migrating a new file takes about
    half a second of CPU, and four hundred tests start on SQLite: copying the file takes a millisecond."""

    def __init__(self, folder: Path) -> None:
        self.template = folder / "template.db"

        async def make() -> None:
            db = Database(self.url(self.template))
            await upgrade_to_head(db)
            await db.dispose()

        _run_apart(make)

    @staticmethod
    def url(path: Path) -> str:
        return f"sqlite+aiosqlite:///{path}"

    def fresh(self, path: Path) -> str:
        shutil.copyfile(self.template, path)
        return self.url(path)
