"""Fresh databases for tests: a new SQLite file, or a new PostgreSQL database cloned from a migrated template."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from storage.database import Database
from storage.migrate import upgrade_to_head

POSTGRES_URL = os.environ.get("DAIFU_TEST_POSTGRES_URL", "postgresql+asyncpg:///test?host=/var/run/postgresql")
# Both by default; a developer without PostgreSQL may narrow it (CI never does).
DROPS_AT_ONCE = 16
DATABASES = [name.strip() for name in os.environ.get("DAIFU_TEST_DATABASES", "sqlite,postgres").split(",")]


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def _admin(statement: str) -> None:
    engine = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


def _run_apart(make: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run set-up work on a loop of its own: session fixtures may be first asked for inside a test's loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(lambda: asyncio.run(make())).result()


class PostgresDatabases:
    """One migrated template per test run; each test gets its own copy of it."""

    def __init__(self) -> None:
        self.prefix = f"daifu_t{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.template = f"{self.prefix}_template"
        self.made: list[str] = []

    def create_template(self) -> None:
        async def make() -> None:
            await _admin(f'CREATE DATABASE "{self.template}"')
            db = Database(_with_database(POSTGRES_URL, self.template))
            await upgrade_to_head(db)
            await db.dispose()

        _run_apart(make)

    async def fresh(self) -> str:
        name = f"{self.prefix}_{len(self.made)}"
        await _admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.made.append(name)
        return _with_database(POSTGRES_URL, name)

    async def empty(self) -> str:
        """A database with nothing in it, not even the schema (as a shop's new one is)."""
        name = f"{self.prefix}_{len(self.made)}"
        await _admin(f'CREATE DATABASE "{name}"')
        self.made.append(name)
        return _with_database(POSTGRES_URL, name)

    def drop_all(self) -> None:
        async def drop() -> None:
            # Each DROP DATABASE waits for a checkpoint; several at once share one, so a run's hundreds of copies
            # go in seconds, not a minute at the end of each xdist worker.
            at_once = asyncio.Semaphore(DROPS_AT_ONCE)

            async def drop_one(name: str) -> None:
                async with at_once:
                    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

            await asyncio.gather(*(drop_one(name) for name in self.made))
            await _admin(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')

        _run_apart(drop)


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
