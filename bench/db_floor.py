"""``python -m bench.db_floor``: what one database read or write costs the bot's CPU, by the layer it goes through.

The pay-for-me journey's CPU per update is set against a bare echo bot's; much of daifu's goes into its
transactions. This measures the floor under that part: a transaction reading one order by its token, the read
every tap makes, through

- the ORM in a transaction (``Database.transaction``: how daifu writes, and read before ``Database.reading``),
- the ORM through ``Database.reading`` (how daifu reads: on PostgreSQL without BEGIN/COMMIT, on SQLite in a
  transaction as before),
- SQLAlchemy Core in a transaction,
- SQLAlchemy Core through ``Database.alone`` (how inbox rows, guided steps and marks are written: on PostgreSQL
  without BEGIN/COMMIT, on the autocommit engine that reads use too),
- the driver alone (asyncpg, or sqlite3 through aiosqlite; its connection from the same pool) in a transaction:
  the baseline,

and a second SELECT in the same ORM transaction, the cost of one more statement; then what daifu's hot paths
avoid: the same read with its statement built at every call (daifu builds them once), and one conditional
UPDATE as the ORM runs it by default (it first applies the statement to the session's loaded objects in
Python), run AS_WRITTEN, and in Core on the session's connection (run_core, how a payment's writes run).
CPU is this process's own (time.process_time), over many rounds after a warm-up; the database server's is not
counted.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import uvloop
from sqlalchemy import bindparam
from sqlalchemy import select as core_select
from sqlalchemy import update as sql_update
from sqlmodel import SQLModel, col, select, update

from bench.database import bench_database
from bench.options import database_choice
from storage.database import AS_WRITTEN, Database, run_core
from storage.models import Order, OrderStatus, Shop, utcnow

TOKEN = "benchmark-order-token-1"
SQL = "SELECT * FROM orders WHERE token = {mark}"


async def cpu_ms(rounds: int, read: Callable[[], Awaitable[object]]) -> float:
    for _ in range(rounds // 10):
        await read()
    began = time.process_time()
    for _ in range(rounds):
        await read()
    return (time.process_time() - began) / rounds * 1000


async def measure(db: Database, rounds: int) -> dict[str, float]:
    orm = select(Order).where(col(Order.token) == TOKEN)
    table = Order.__table__  # type: ignore[attr-defined]
    core = core_select(table).where(table.c.token == TOKEN)
    # The same conditional write three ways: an ORM UPDATE as SQLAlchemy runs it by default (it first applies
    # the statement to the session's loaded objects in Python), one run AS_WRITTEN, and a Core UPDATE of the table.
    orm_update = (
        update(Order)
        .where(col(Order.token) == bindparam("w_token"), col(Order.status) == OrderStatus.OPEN)
        .values(description=bindparam("v_description"))
    )
    core_update = (
        sql_update(table)
        .where(table.c.token == bindparam("w_token"), table.c.status == OrderStatus.OPEN.value)
        .values(description=bindparam("v_description"))
    )

    async def orm_transaction() -> object:
        async with db.transaction() as session:
            return (await session.exec(orm)).first()

    async def orm_two_selects() -> object:
        async with db.transaction() as session:
            (await session.exec(orm)).first()
            return (await session.exec(orm)).first()

    async def orm_reading() -> object:
        async with db.reading() as session:
            return (await session.exec(orm)).first()

    async def orm_reading_built_per_call() -> object:
        async with db.reading() as session:
            return (await session.exec(select(Order).where(col(Order.token) == TOKEN))).first()

    async def orm_update_default() -> object:
        async with db.transaction() as session:
            return await session.exec(orm_update, params={"w_token": TOKEN, "v_description": "x"})

    async def orm_update_as_written() -> object:
        async with db.transaction() as session:
            params = {"w_token": TOKEN, "v_description": "x"}
            return await session.exec(orm_update, params=params, execution_options=AS_WRITTEN)

    async def core_update_in_session() -> object:
        async with db.transaction() as session:
            return await run_core(session, core_update, {"w_token": TOKEN, "v_description": "x"})

    async def core_transaction() -> object:
        async with db.engine.begin() as connection:
            return (await connection.execute(core)).first()

    core_built_once = core_select(table).where(table.c.token == bindparam("token"))

    async def core_alone() -> object:
        async with db.alone() as connection:
            return (await connection.execute(core_built_once, {"token": TOKEN})).first()

    async def driver_transaction() -> object:
        async with db.engine.connect() as connection:
            raw = (await connection.get_raw_connection()).driver_connection
            if db.engine.dialect.name == "postgresql":
                async with raw.transaction():  # type: ignore[union-attr]
                    return await raw.fetchrow(SQL.format(mark="$1"), TOKEN)  # type: ignore[union-attr]
            async with raw.execute(SQL.format(mark="?"), (TOKEN,)) as cursor:  # type: ignore[union-attr]
                row = await cursor.fetchone()
            await raw.commit()  # type: ignore[union-attr]
            return row

    return {
        "the driver alone (pooled), in a transaction: baseline": await cpu_ms(rounds, driver_transaction),
        "SQLAlchemy Core, in a transaction": await cpu_ms(rounds, core_transaction),
        "SQLAlchemy Core through Database.alone (PostgreSQL: no BEGIN)": await cpu_ms(rounds, core_alone),
        "ORM through Database.reading (PostgreSQL: no BEGIN)": await cpu_ms(rounds, orm_reading),
        "ORM, in a transaction (Database.transaction)": await cpu_ms(rounds, orm_transaction),
        "ORM, in a transaction, two SELECTs": await cpu_ms(rounds, orm_two_selects),
        "ORM through Database.reading, statement built per call": await cpu_ms(rounds, orm_reading_built_per_call),
        "an ORM UPDATE, in a transaction (synchronize_session default)": await cpu_ms(rounds, orm_update_default),
        "the same ORM UPDATE run AS_WRITTEN": await cpu_ms(rounds, orm_update_as_written),
        "the same UPDATE in Core on the session's connection (run_core)": await cpu_ms(rounds, core_update_in_session),
    }


async def run(database: str, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        async with bench_database(database, Path(workdir)) as bench_db:
            db = Database(bench_db.url)
            try:
                async with db.engine.begin() as connection:
                    await connection.run_sync(SQLModel.metadata.create_all)
                async with db.transaction() as session:
                    shop = Shop(name="bench")
                    session.add(shop)
                    await session.flush()
                    assert shop.id is not None
                    session.add(
                        Order(
                            token=TOKEN,
                            shop_id=shop.id,
                            title="Coffee beans",
                            amount_minor=1250,
                            currency="USD",
                            expires_at=utcnow() + timedelta(days=1),
                        )
                    )
                figures = await measure(db, rounds)
            finally:
                await db.dispose()
    print(f"One read of an order by its token, {rounds} rounds; {bench_db.description}")
    baseline = next(iter(figures.values()))
    for name, ms in figures.items():
        print(f"  {name:64s} {ms:6.3f} ms CPU  {ms / baseline:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.db_floor", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", type=database_choice, default="sqlite", help="'sqlite' or a PostgreSQL URL")
    parser.add_argument("--rounds", type=int, default=3000)
    options = parser.parse_args()
    uvloop.run(run(options.database, options.rounds))


if __name__ == "__main__":
    main()
