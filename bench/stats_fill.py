"""Filling a fresh database with N orders, for timing /stats: bulk inserts, not the bot's code paths.

The schema comes from the migrations (every index the bot has); the rows are written straight into the
tables the /stats query reads, a chunk at a time: one transaction with executemany on SQLite, COPY
(asyncpg's copy_records_to_table) on PostgreSQL. The mix, with a fixed seed so runs are comparable:

- orders created evenly over the last 30 days, 60% of them paid (minutes after their link was made:
  exponential, mean 10 minutes), 25% expired, 8% still open, 7% cancelled; 4% of the paid ones that one
  person paid were refunded later (Stars and sandbox refunds done, card refunds owed, as daifu records them);
- the paid ones: 76% paid by the shopper, 20% by a friend through a pay-for-me request, 4% split among
  2-4 friends chipping in (one credited payment each; USD orders only); by card (USD) 50%, Stars (XTR) 30%,
  sandbox (USD) 20%;
- 5% of all orders also have a declined checkout attempt, and 5% of the unpaid ones a request that
  expired or was cancelled unpaid.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from storage.database import Database
from storage.migrate import upgrade_to_head

DAYS = 30
CHUNK = 20_000  # orders generated and written per batch
SEED = 6  # issue 6
SHOPPERS = 50_000
ADMIN_ID = 42
TITLES = ("Coffee beans", "Sticker pack", "Tea sampler", "Postcards", "Notebook", "Gift card", "Tote bag")

ORDER_COLUMNS = (
    "id",
    "token",
    "shop_id",
    "title",
    "description",
    "amount_minor",
    "currency",
    "status",
    "created_by",
    "payer_id",
    "created_at",
    "expires_at",
    "paid_at",
    "payforme_allowed",
)
REQUEST_COLUMNS = (
    "id",
    "token",
    "order_id",
    "requester_id",
    "mode",
    "shares",
    "note",
    "status",
    "created_at",
    "expires_at",
    "covered_minor",
)
PAYMENT_COLUMNS = (
    "id",
    "order_id",
    "provider",
    "checkout_ref",
    "provider_ref",
    "amount_minor",
    "currency",
    "status",
    "credited",
    "payer_id",
    "request_id",
    "show_name",
    "credit_minor",
    "refunded_minor",
    "created_at",
    "settled_at",
    "refunded_at",
)
REFUND_COLUMNS = ("id", "payment_id", "amount_minor", "currency", "status", "reason", "actor_id", "created_at")
TABLES = (
    ("orders", ORDER_COLUMNS),
    ("pay_requests", REQUEST_COLUMNS),
    ("payments", PAYMENT_COLUMNS),
    ("refunds", REFUND_COLUMNS),
)

Row = tuple[Any, ...]
Stamp = Callable[[float], Any]  # epoch seconds -> what the database driver takes for a timestamp


@dataclass
class Chunk:
    orders: list[Row] = field(default_factory=list)
    requests: list[Row] = field(default_factory=list)
    payments: list[Row] = field(default_factory=list)
    refunds: list[Row] = field(default_factory=list)

    def tables(self) -> list[tuple[str, tuple[str, ...], list[Row]]]:
        rows = (self.orders, self.requests, self.payments, self.refunds)
        return [(table, columns, data) for (table, columns), data in zip(TABLES, rows, strict=True)]


@dataclass(frozen=True)
class FillFigures:
    orders: int
    paid_orders: int
    pay_requests: int
    payments: int
    refunds: int
    seconds: float  # schema, rows and the post-load step together
    rows_seconds: float  # generating and writing the rows
    after_load_seconds: float
    method: str
    after_load: str  # what was done once the rows were in (VACUUM ANALYZE on PostgreSQL, nothing on SQLite)


def sqlite_stamp(seconds: float) -> str:
    # As SQLAlchemy stores DateTime on SQLite (storage.types.UTCDateTime hands it UTC): text, 6-digit micros.
    return f"{datetime(1970, 1, 1) + timedelta(seconds=seconds):%Y-%m-%d %H:%M:%S.%f}"


def postgres_stamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class Orders:
    """Generates the rows, chunk by chunk, with ids assigned here (so payments can name their request)."""

    def __init__(self, count: int, now: datetime, stamp: Stamp) -> None:
        self.count = count
        self.now = now.timestamp()
        self.stamp = stamp
        self.rng = random.Random(SEED)
        self.request_id = self.payment_id = self.refund_id = 0
        self.paid = 0

    def chunks(self) -> Iterator[Chunk]:
        for first in range(1, self.count + 1, CHUNK):
            chunk = Chunk()
            for order_id in range(first, min(first + CHUNK, self.count + 1)):
                self._order(order_id, chunk)
            yield chunk

    def _request(
        self,
        chunk: Chunk,
        order_id: int,
        requester: int,
        mode: str,
        shares: int | None,
        status: str,
        created: float,
        covered: int = 0,  # what chip-ins have paid of a split request so far
    ) -> int:
        self.request_id += 1
        s = self.stamp
        token = f"r_{self.rng.getrandbits(96):024x}"
        row = (self.request_id, token, order_id, requester, mode, shares, "", status)
        chunk.requests.append((*row, s(created), s(created + 86400), covered))
        return self.request_id

    def _payment(
        self,
        chunk: Chunk,
        order_id: int,
        charge: tuple[str, int, str, str],  # provider, amount, currency, status
        payer: int,
        request_id: int | None,
        settled: float | None,
        refunded: float | None = None,
    ) -> int:
        self.payment_id += 1
        s = self.stamp
        provider, amount, currency, status = charge
        credited = status != "declined"
        created = (settled if settled is not None else self.now) - 5
        chunk.payments.append(
            (
                self.payment_id,
                order_id,
                provider,
                f"co_{self.payment_id}",
                f"ch_{self.payment_id}" if credited else None,
                amount,
                currency,
                status,
                credited,
                payer,
                request_id,
                True,
                amount if credited else None,
                amount if refunded is not None else 0,
                s(created),
                s(settled) if settled is not None else None,
                s(refunded) if refunded is not None else None,
            )
        )
        return self.payment_id

    def _order(self, order_id: int, chunk: Chunk) -> None:
        rng, s, now = self.rng, self.stamp, self.now
        created = now - rng.random() * DAYS * 86400
        shopper = 1_000_000 + rng.randrange(SHOPPERS)
        pick = rng.random()
        provider = "telegram" if pick < 0.5 else "stars" if pick < 0.8 else "sandbox"
        currency = "XTR" if provider == "stars" else "USD"
        amount = rng.randrange(1, 2500) if currency == "XTR" else rng.randrange(100, 10000)
        fate = rng.random()
        status = "paid" if fate < 0.60 else "expired" if fate < 0.85 else "open" if fate < 0.93 else "cancelled"
        paid_at: float | None = None
        payer: int | None = None
        if status == "paid":
            self.paid += 1
            paid_at = min(created + 5 + rng.expovariate(1 / 600), now - 1)  # minutes after the link, mostly
            how = rng.random()
            if how < 0.06 and currency == "USD":
                self._split(chunk, order_id, provider, amount, shopper, created, paid_at)
            else:
                by_friend = how < 0.24
                payer = self._someone_else(shopper) if by_friend else shopper
                request = (
                    self._request(chunk, order_id, shopper, "single", None, "paid", created + 30) if by_friend else None
                )
                refunded = min(paid_at + 3600 + rng.random() * 3 * 86400, now - 1) if rng.random() < 0.04 else None
                # Card payments through Telegram cannot be refunded through the Bot API: daifu records them owed.
                owed = provider == "telegram"
                charge_status = "succeeded" if refunded is None else "refund_owed" if owed else "refunded"
                charge = (provider, amount, currency, charge_status)
                payment = self._payment(chunk, order_id, charge, payer, request, paid_at, refunded)
                if refunded is not None:
                    status = "refunded"
                    self.refund_id += 1
                    refund_status = "owed" if owed else "done"
                    chunk.refunds.append(
                        (self.refund_id, payment, amount, currency, refund_status, "admin", ADMIN_ID, s(refunded))
                    )
        elif rng.random() < 0.05:
            mode = "split" if rng.random() < 0.3 else "single"
            closed = "expired" if status == "expired" else "cancelled"
            self._request(chunk, order_id, shopper, mode, 3 if mode == "split" else None, closed, created + 30)
        if rng.random() < 0.05:
            self._payment(chunk, order_id, (provider, amount, currency, "declined"), shopper, None, None)
        token = f"{rng.getrandbits(128):032x}"
        paid = s(paid_at) if paid_at is not None else None
        row = (order_id, token, 1, rng.choice(TITLES), "", amount, currency, status, ADMIN_ID, payer)
        chunk.orders.append((*row, s(created), s(created + 86400), paid, True))

    def _someone_else(self, shopper: int) -> int:
        return 1_000_000 + (shopper - 1_000_000 + 1 + self.rng.randrange(SHOPPERS - 1)) % SHOPPERS

    def _split(
        self, chunk: Chunk, order_id: int, provider: str, amount: int, shopper: int, created: float, paid_at: float
    ) -> None:
        """2-4 friends chip in equal parts (the last one what is left); the order then has no one payer."""
        shares = self.rng.randrange(2, 5)
        request = self._request(chunk, order_id, shopper, "split", shares, "paid", created + 30, covered=amount)
        part = amount // shares
        for number in range(shares):
            share = amount - part * (shares - 1) if number == shares - 1 else part
            settled = paid_at - (shares - 1 - number) * 60
            charge = (provider, share, "USD", "succeeded")
            self._payment(chunk, order_id, charge, self._someone_else(shopper), request, settled)


def _placeholders(columns: tuple[str, ...]) -> str:
    return f"({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"


def fill_sqlite(path: str, orders: Orders, progress: Callable[[str], None]) -> None:
    """All rows in one transaction, executemany per chunk; the journal off and the page cache large."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=MEMORY")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-524288")  # 512 MiB: index pages stay in memory while loading
        connection.execute("BEGIN")
        connection.execute(
            "INSERT INTO shops (id, name, created_at) VALUES (1, 'Bench shop', ?)", (sqlite_stamp(orders.now),)
        )
        for done, chunk in enumerate(orders.chunks(), start=1):
            for table, columns, rows in chunk.tables():
                connection.executemany(f"INSERT INTO {table} {_placeholders(columns)}", rows)
            report_progress(progress, done, orders.count)
        connection.execute("COMMIT")
        connection.execute("PRAGMA journal_mode=WAL")  # as daifu runs it
    finally:
        connection.close()


async def fill_postgres(url: str, orders: Orders, progress: Callable[[str], None]) -> None:
    """COPY each chunk (binary, through asyncpg), all in one transaction; then the sequences moved on."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            raw = await connection.get_raw_connection()
            copier: Any = raw.driver_connection
            async with copier.transaction():
                await copier.execute(
                    "INSERT INTO shops (id, name, created_at) VALUES (1, 'Bench shop', $1)",
                    postgres_stamp(orders.now),
                )
                for done, chunk in enumerate(orders.chunks(), start=1):
                    for table, columns, rows in chunk.tables():
                        if rows:
                            await copier.copy_records_to_table(table, records=rows, columns=list(columns))
                    report_progress(progress, done, orders.count)
                for table in ("shops", "orders", "pay_requests", "payments", "refunds"):
                    await copier.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                    )
    finally:
        await engine.dispose()


async def vacuum_analyze(url: str) -> None:
    # What autovacuum does soon after a load this size; VACUUM cannot run inside a transaction.
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            for table in ("orders", "pay_requests", "payments", "refunds"):
                await connection.execute(text(f"VACUUM ANALYZE {table}"))
    finally:
        await engine.dispose()


def report_progress(progress: Callable[[str], None], chunks_done: int, total: int) -> None:
    done = min(chunks_done * CHUNK, total)
    if done == total or chunks_done % 10 == 0:
        progress(f"filled {done:,} of {total:,} orders")


async def fill(url: str, count: int, now: datetime, progress: Callable[[str], None]) -> FillFigures:
    began = time.perf_counter()
    db = Database(url)
    try:
        await upgrade_to_head(db)
    finally:
        await db.dispose()
    rows_began = time.perf_counter()
    sqlite = url.startswith("sqlite")
    orders = Orders(count, now, sqlite_stamp if sqlite else postgres_stamp)
    if sqlite:
        database = make_url(url).database
        assert database is not None
        # sqlite3 is synchronous: the whole load runs in a thread, off the event loop.
        await asyncio.to_thread(fill_sqlite, database, orders, progress)
        method = "SQLite: one transaction, executemany per 20,000 orders, journal in memory, synchronous=OFF"
        after_load = "nothing (daifu never runs ANALYZE on SQLite, so the planner has no statistics, as in production)"
    else:
        await fill_postgres(url, orders, progress)
        method = "PostgreSQL: binary COPY (asyncpg copy_records_to_table) per 20,000 orders, one transaction"
    rows_seconds = time.perf_counter() - rows_began
    if not sqlite:
        progress("VACUUM ANALYZE")
        await vacuum_analyze(url)
        after_load = "VACUUM ANALYZE of the four tables (what autovacuum would do soon after such a load)"
    return FillFigures(
        orders=count,
        paid_orders=orders.paid,
        pay_requests=orders.request_id,
        payments=orders.payment_id,
        refunds=orders.refund_id,
        seconds=time.perf_counter() - began,
        rows_seconds=rows_seconds,
        after_load_seconds=time.perf_counter() - rows_began - rows_seconds,
        method=method,
        after_load=after_load,
    )
