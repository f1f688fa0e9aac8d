"""Fixtures shared by the suite: a fresh database per test, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from storage.database import Database
from storage.migrate import upgrade_to_head
from tests.databases import DATABASES, PostgresDatabases, SqliteDatabases
from tests.harness import RunningShop, running_shop
from tests.ports import free_port


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked runs_long go first: xdist then runs them beside the rest, not alone at the end of the run."""
    items.sort(key=lambda item: item.get_closest_marker("runs_long") is None)


@pytest.fixture(autouse=True)
async def nothing_left_running() -> AsyncIterator[None]:
    """Each test ends with nothing of its own still running. A task that outlives its test and ignores being
    cancelled would hang the event loop's shutdown, and the whole run, without a word of which it was: here it
    fails its test instead, with the task's stack."""
    before = asyncio.all_tasks()
    yield
    left = [task for task in asyncio.all_tasks() - before if task is not asyncio.current_task()]
    for task in left:
        task.cancel()
    if not left:
        return
    _done, deaf = await asyncio.wait(left, timeout=10)
    if deaf:
        stacks = "\n".join(f"{task!r}: {task.get_stack(limit=5)}" for task in deaf)
        # Said at once: a task that never ends will hang the loop's shutdown after this, before any report.
        print(f"\nstill running after the test, deaf to cancellation:\n{stacks}", file=sys.__stderr__, flush=True)
        pytest.fail(f"tasks still running after the test, deaf to cancellation:\n{stacks}")


@pytest.fixture
def unused_tcp_port() -> int:
    """pytest-asyncio's, but below the ephemeral range (see tests.ports)."""
    return free_port()


@pytest.fixture
def unused_tcp_port_factory() -> Callable[[], int]:
    return free_port


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases()
    databases.create_template()
    yield databases
    databases.drop_all()


@pytest.fixture(scope="session")
def sqlite(tmp_path_factory: pytest.TempPathFactory) -> SqliteDatabases:
    return SqliteDatabases(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(params=DATABASES)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database at the newest schema, as the bot leaves it after its first start (it upgrades on start)."""
    if request.param == "sqlite":
        sqlite: SqliteDatabases = request.getfixturevalue("sqlite")
        yield sqlite.fresh(tmp_path / "daifu.db")
        return
    postgres: PostgresDatabases = request.getfixturevalue("postgres")
    url = await postgres.fresh()
    yield url
    postgres.discard(url)


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
