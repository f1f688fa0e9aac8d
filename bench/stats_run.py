"""``--stats-orders N``: fill a fresh database with N orders, then time the /stats query on it.

The filling (bench.stats_fill) runs in the bench process; the timing (bench.stats_timing) in a fresh
process, so that the memory figures are those of a process running the query, not of the one that
generated a million rows. The database is dropped (PostgreSQL) or deleted (SQLite) afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bench.benchmark import machine, plain_options
from bench.bots import REPO, inherited_environment
from bench.database import bench_database
from bench.options import Options
from bench.processes import BotFailed
from bench.report import ms
from bench.stats import percentile
from bench.stats_catch_up import CatchUpFigures, catch_up
from bench.stats_fill import FillFigures, fill

Progress = Callable[[str], None]
CUSTOM_PLANS = 5  # PostgreSQL's plan_cache_mode=auto: parameter-specific plans for a prepared statement's first 5


@dataclass(frozen=True)
class PeriodTiming:
    period: str
    runs_ms: list[float]
    first_ms: float  # the first run on its connection: caches still cold
    p50_ms: float
    first_five_p50_ms: float  # runs 1-5: PostgreSQL plans each prepared statement for its parameters
    later_p50_ms: float  # runs 6+: PostgreSQL may have switched to a generic plan (nan with 5 runs or fewer)
    max_ms: float
    found: dict[str, Any]  # what the query reported (orders created, paid, ...), from its last run


@dataclass(frozen=True)
class StatsResults:
    started_at: str
    command: str
    machine: dict[str, Any]
    options: dict[str, Any]
    database: str
    database_mb: float
    fill: FillFigures
    catch_up: CatchUpFigures
    periods: list[PeriodTiming]
    rss_before_mb: float  # the timing process, imports done and connected, before the first query
    rss_after_mb: float
    peak_rss_mb: float


async def database_mb(url: str) -> float:
    if url.startswith("sqlite"):
        path = make_url(url).database
        assert path is not None
        files = [Path(path), Path(path + "-wal")]
        return sum(file.stat().st_size for file in files if file.exists()) / 2**20
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            size = (await connection.execute(text("SELECT pg_database_size(current_database())"))).scalar_one()
    finally:
        await engine.dispose()
    return int(size) / 2**20


async def time_stats(url: str, repeats: int, workdir: Path) -> dict[str, Any]:
    env = inherited_environment() | {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.stats_timing",
        url,
        str(repeats),
        cwd=workdir,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await process.communicate()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        raise
    if process.returncode != 0:
        raise BotFailed(f"bench.stats_timing exited with code {process.returncode}\n{err.decode(errors='replace')}")
    figures: dict[str, Any] = json.loads(out)
    return figures


async def run_stats(options: Options, progress: Progress) -> StatsResults:
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    async with asyncio.timeout(options.max_seconds), contextlib.AsyncExitStack() as cleanup:
        workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="daifu-bench-")))
        database = await cleanup.enter_async_context(bench_database(options.database, workdir))
        progress(f"filling a fresh database with {options.stats_orders:,} orders")
        filled = await fill(database.url, options.stats_orders, datetime.now(UTC), progress)
        progress(f"filled in {filled.seconds:.1f}s; rolling the hours up, as the running bot would have")
        rolled = await catch_up(database.url, progress)
        progress(f"rolled up in {rolled.seconds:.1f}s; timing /stats, {options.stats_repeats} runs per period")
        size = await database_mb(database.url)
        timing = await time_stats(database.url, options.stats_repeats, workdir)
    periods = []
    for name, period in timing["periods"].items():
        runs = [seconds * 1000 for seconds in period["seconds"]]
        periods.append(
            PeriodTiming(
                period=name,
                runs_ms=runs,
                first_ms=runs[0],
                p50_ms=percentile(runs, 50),
                first_five_p50_ms=percentile(runs[:CUSTOM_PLANS], 50),
                later_p50_ms=percentile(runs[CUSTOM_PLANS:], 50),
                max_ms=max(runs),
                found=period["found"],
            )
        )
    return StatsResults(
        started_at=started_at,
        command=options.command,
        machine=machine(),
        options=plain_options(options),
        database=database.description,
        database_mb=size,
        fill=filled,
        catch_up=rolled,
        periods=periods,
        rss_before_mb=timing["rss_before_mb"],
        rss_after_mb=timing["rss_after_mb"],
        peak_rss_mb=timing["peak_rss_mb"],
    )


def render_stats(results: StatsResults) -> str:
    f, m, c = results.fill, results.machine, results.catch_up
    lines = [
        f"command: {results.command}",
        f"/stats on {f.orders:,} orders: services.stats_report.StatsReport(db).stats(since), the query of "
        "/stats 7d and /stats 30d",
        f"{results.started_at} | Python {m['python']} | {m['cpus']} CPUs | database: {results.database}",
        f"Filled in {f.seconds:.1f}s (schema by the migrations, then rows {f.rows_seconds:.1f}s): {f.orders:,} orders "
        f"over the last 30 days ({f.paid_orders:,} paid),",
        f"  {f.payments:,} payments, {f.pay_requests:,} pay-for-me requests, {f.refunds:,} refunds; "
        f"{results.database_mb:.0f} MB on disk.",
        f"  {f.method}.",
        f"  After the load ({f.after_load_seconds:.1f}s): {f.after_load}.",
        f"Rolled up as the running bot would have (services.stats_rollup): {c.slices:,} 10-minute slices counted "
        f"in {c.seconds:.1f}s, {c.runs} runs of up to a day's, the longest {c.longest_run_seconds:.1f}s.",
        "",
    ]
    header = (
        "period",
        "runs",
        "p50 ms",
        "runs 1-5 p50",
        "runs 6+ p50",
        "max ms",
        "created",
        "paid",
        "by friends",
        "chip-ins",
        "refunds",
    )
    rows = [header]
    for period in results.periods:
        found = period.found
        rows.append(
            (
                f"/stats {period.period}",
                str(len(period.runs_ms)),
                ms(period.p50_ms),
                ms(period.first_five_p50_ms),
                ms(period.later_p50_ms),
                ms(period.max_ms),
                f"{found['created']:,}",
                f"{found['paid']:,}",
                f"{found['paid_by_friends']:,}",
                f"{found['contributions']:,}",
                f"{found['refunded']:,} + {found['owed']:,} owed",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        lines.append(
            "  ".join([row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))])
        )
    lines += [
        "",
        "Timed in a process of its own (python -m bench.stats_timing) that imports daifu's services and opens the",
        "database as the bot does, each period on a connection of its own; its resident memory: "
        f"{results.rss_before_mb:.0f} MB before the first query,",
        f"{results.rss_after_mb:.0f} MB after the last, peak {results.peak_rss_mb:.0f} MB "
        "(the whole bot, with PTB and its handlers, is ~125 MB in the polling benchmark).",
    ]
    if results.database.startswith("postgresql"):
        lines += [
            "asyncpg keeps statements prepared, and PostgreSQL plans a prepared statement for its parameters on its",
            "first 5 executions, then may switch to a generic plan: runs 6+ are what a long-running worker gets.",
        ]

    def figure(period: PeriodTiming) -> str:
        later = "" if math.isnan(period.later_p50_ms) else f" (runs 6+: {ms(period.later_p50_ms)} ms)"
        return f"/stats {period.period} takes {ms(period.p50_ms)} ms at p50{later}"

    lines.append(
        f"\nThe figure: on {f.orders:,} orders {' and '.join(figure(period) for period in results.periods)}; "
        f"the process doing it holds {results.rss_after_mb:.0f} MB."
    )
    return "\n".join(lines)
