"""Fixtures shared by the suite: a fresh database per test, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from storage.database import Database
from storage.migrate import upgrade_to_head
from tests.databases import DATABASES, PostgresDatabases
from tests.harness import RunningShop, running_shop


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases()
    databases.create_template()
    yield databases
    databases.drop_all()


@pytest.fixture(params=DATABASES)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'daifu.db'}"
    postgres: PostgresDatabases = request.getfixturevalue("postgres")
    return await postgres.fresh()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await upgrade_to_head(database)
    yield database
    await database.dispose()


@pytest.fixture
async def shop(database_url: str, unused_tcp_port: int) -> AsyncIterator[RunningShop]:
    """daifu running for real against the Bot API emulator, with its web server on a free port."""
    async with running_shop(database_url, unused_tcp_port) as running:
        yield running
