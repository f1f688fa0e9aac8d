"""The database daifu runs on during the benchmark: a SQLite file in the temp dir, or a throwaway
PostgreSQL database on a server the user names, dropped afterwards (so runs never see old orders)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine


class DatabaseUnavailable(RuntimeError):
    """The PostgreSQL server named by --database could not make the benchmark's database."""


@dataclass(frozen=True)
class BenchDatabase:
    url: str
    description: str  # for the report; never holds a password


async def _run_admin(server_url: str, statement: str) -> None:
    # CREATE/DROP DATABASE cannot run inside a transaction.
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


@asynccontextmanager
async def bench_database(choice: str, workdir: Path) -> AsyncIterator[BenchDatabase]:
    if choice == "sqlite":
        yield BenchDatabase(f"sqlite+aiosqlite:///{workdir / 'bench.db'}", "sqlite (a file in a temp dir)")
        return
    server = make_url(choice)
    name = f"daifu_bench_{secrets.token_hex(4)}"
    try:
        await _run_admin(choice, f'CREATE DATABASE "{name}"')
    except (OSError, SQLAlchemyError) as error:
        raise DatabaseUnavailable(f"could not create a database on {server.render_as_string()}: {error}") from error
    try:
        url = server.set(database=name).render_as_string(hide_password=False)
        yield BenchDatabase(
            url, f"postgresql, throwaway database {name} on {server.render_as_string()} (server CPU not counted)"
        )
    finally:
        await _run_admin(choice, f'DROP DATABASE IF EXISTS "{name}"')
