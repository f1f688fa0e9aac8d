"""``python -m bench.stats_timing DATABASE_URL REPEATS``: time the /stats query in a process of its own.

A fresh process, so its memory is the query's and daifu's modules', not the filling's: it imports what the
/stats command uses, opens the database the way the bot does (storage.database.Database), then runs
``StatsReport(db).stats(since)`` for the last 7 days and the last 30 days, REPEATS times each (each
period on a connection of its own), and prints one JSON object: the seconds of every run, what the last
run of each period found, and the process's resident memory (VmRSS) before the first query and after
the last, and its peak (VmHWM).

On PostgreSQL the runs differ by their number: asyncpg keeps each statement prepared on its connection,
and PostgreSQL plans a prepared statement for its parameters on its first 5 executions, then may switch
to one generic plan for any parameters. Runs 6 and later are what a long-running worker gets.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlmodel import select

from services.stats_report import PeriodStats, StatsReport
from storage.database import Database
from storage.models import utcnow

PERIODS = {"7d": timedelta(days=7), "30d": timedelta(days=30)}


def memory_mb() -> dict[str, float]:
    """This process's resident memory now (VmRSS) and at its peak so far (VmHWM), in MiB."""
    found: dict[str, float] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return found


def summary(stats: PeriodStats) -> dict[str, Any]:
    return {
        "created": stats.created,
        "paid": stats.paid,
        "paid_by_friends": stats.paid_by_friends,
        "split_requests": stats.split_requests,
        "contributions": stats.contributions,
        "refunded": stats.refunded.count,
        "owed": stats.owed.count,
        "revenue": {money.currency: money.minor for money in stats.revenue},
        "providers": {name: totals.count for name, totals in stats.providers.items()},
        "median_time_to_pay_s": stats.median_time_to_pay.total_seconds() if stats.median_time_to_pay else None,
    }


async def time_period(url: str, length: timedelta, repeats: int) -> dict[str, Any]:
    """One period's runs, on a database connection of their own (a fresh cache of prepared statements)."""
    db = Database(url)
    try:
        async with db.transaction() as session:  # the pool's connection is made, as in a running bot
            await session.exec(select(1))
        reports = StatsReport(db)
        seconds: list[float] = []
        found: PeriodStats | None = None
        for _ in range(repeats):
            since = utcnow() - length
            began = time.perf_counter()
            found = await reports.stats(since)
            seconds.append(time.perf_counter() - began)
        assert found is not None
        return {"seconds": seconds, "found": summary(found)}
    finally:
        await db.dispose()


async def measure(url: str, repeats: int) -> dict[str, Any]:
    before = memory_mb()
    periods = {name: await time_period(url, length, repeats) for name, length in PERIODS.items()}
    after = memory_mb()
    return {
        "periods": periods,
        "rss_before_mb": before["VmRSS"],
        "rss_after_mb": after["VmRSS"],
        "peak_rss_mb": after["VmHWM"],
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m bench.stats_timing DATABASE_URL REPEATS", file=sys.stderr)
        return 2
    print(json.dumps(asyncio.run(measure(argv[0], int(argv[1])))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
