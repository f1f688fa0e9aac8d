"""Workers starting together on a new PostgreSQL database upgrade its schema once: the upgrade holds an advisory
lock, so the others wait for it and find the schema at the head."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import make_url

from storage.database import Database
from storage.migrate import alembic_config
from tests.databases import DATABASES, POSTGRES_URL, PostgresDatabases

ROOT = Path(__file__).resolve().parents[1]
WORKERS = 4

pytestmark = pytest.mark.skipif("postgres" not in DATABASES, reason="the lock is PostgreSQL's")


class Gate:
    """A door to PostgreSQL that holds every connection until `expected` of them wait at it, then lets them all
    through at once: the processes' upgrades then start within a moment of each other, not as their imports
    happen to finish, and without the lock they collide every time."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.arrived = 0
        self.open = asyncio.Event()
        url = make_url(POSTGRES_URL)
        self.socket_dir = str(url.query.get("host", "")) if str(url.query.get("host", "")).startswith("/") else None
        self.upstream = (url.host or "127.0.0.1", url.port or 5432)
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> Gate:
        self.server = await asyncio.start_server(self._through, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    def url_to(self, database_url: str) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        url = make_url(database_url).difference_update_query(["host"])
        return url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)

    async def _through(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.arrived += 1
        if self.arrived >= self.expected:
            self.open.set()
        with contextlib.suppress(TimeoutError):  # a process lost on the way: the others still go through
            await asyncio.wait_for(self.open.wait(), 60)
        if self.socket_dir is not None:
            reader, writer = await asyncio.open_unix_connection(f"{self.socket_dir}/.s.PGSQL.{self.upstream[1]}")
        else:
            reader, writer = await asyncio.open_connection(*self.upstream)
        await asyncio.gather(_pipe(client_reader, writer), _pipe(reader, client_writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


def migrating(workdir: Path, database_url: str) -> subprocess.Popen[str]:
    """`python -m bot migrate` as a deployment's one-shot step or a worker's start runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "PAYMENT_", "ADMIN_", "DATABASE_"))}
    env |= {"PYTHONPATH": str(ROOT), "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "bot", "migrate"]
    return subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


async def test_workers_migrating_at_once_upgrade_the_schema_once(postgres: PostgresDatabases, tmp_path: Path) -> None:
    database_url = await postgres.empty()

    async with Gate(WORKERS) as gate:
        processes = [migrating(tmp_path, gate.url_to(database_url)) for _ in range(WORKERS)]
        outputs = await asyncio.gather(*(asyncio.to_thread(process.communicate, timeout=120) for process in processes))

    assert gate.open.is_set()  # they did start together
    for process, (_out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
        assert "already exists" not in err and "Traceback" not in err, err
    db = Database(database_url)
    try:
        async with db.engine.connect() as connection:
            versions = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
    finally:
        await db.dispose()
    assert versions == [ScriptDirectory.from_config(alembic_config()).get_current_head()]
