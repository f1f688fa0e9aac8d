"""One benchmark run: the emulator in this process, then the echo bot and daifu in turn as subprocesses."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import telegram

from bench.bots import daifu_process, echo_process
from bench.checkout_scenario import CheckoutScenario
from bench.database import bench_database
from bench.echo_scenario import EchoScenario
from bench.figures import BotFigures, FixedRate, Throughput
from bench.options import Options
from bench.processes import BotFailed, BotProcess
from bench.replies import BotReplies
from bot.emulator import BotApiEmulator

Progress = Callable[[str], None]
STARTUP_TIMEOUT = 60.0


class Scenario(Protocol):
    async def warm_up(self) -> None: ...
    async def throughput(self, bot: BotProcess) -> Throughput: ...
    async def fixed_rate(self, bot: BotProcess) -> FixedRate: ...


@dataclass(frozen=True)
class Results:
    started_at: str
    machine: dict[str, Any]
    options: dict[str, Any]
    emulator_url: str
    database: str
    orders_made: int
    orders_seconds: float
    echo: BotFigures
    daifu: BotFigures


async def measure(
    bot: BotProcess,
    scenario: Scenario,
    emu: BotApiEmulator,
    progress: Progress,
    prepare: Callable[[], Awaitable[None]] | None = None,
    backlog: Callable[[BotProcess], Awaitable[Throughput]] | None = None,
) -> BotFigures:
    spawned = time.perf_counter()
    await bot.start(emu, timeout=STARTUP_TIMEOUT)
    startup_s = time.perf_counter() - spawned
    try:
        if prepare is not None:
            await prepare()
        progress(f"{bot.name}: polling after {startup_s:.1f}s; warming up")
        await scenario.warm_up()
        progress(f"{bot.name}: throughput run")
        throughput = await scenario.throughput(bot)
        progress(f"{bot.name}: fixed-rate latency run")
        fixed_rate = await scenario.fixed_rate(bot)
        drained = None
        if backlog is not None:
            progress(f"{bot.name}: backlog run")
            drained = await backlog(bot)
        rss = bot.peak_rss_mb()
    finally:
        code = await bot.stop()
    if code not in (0, None):
        progress(f"warning: {bot.name} exited with code {code} when asked to stop\n{bot.log_tail()}")
    if emu.pending_updates:
        # Whatever a bot left unconfirmed would be handed to the next one.
        raise BotFailed(f"{bot.name} left {len(emu.pending_updates)} updates unconfirmed")
    return BotFigures(bot.name, startup_s, rss, throughput, fixed_rate, drained)


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "python_telegram_bot": telegram.__version__,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }


async def run_benchmark(options: Options, progress: Progress) -> Results:
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    async with asyncio.timeout(options.max_seconds), contextlib.AsyncExitStack() as cleanup:
        workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="daifu-bench-")))
        # The database first: a server that cannot make one should fail the run before anything is timed.
        database = await cleanup.enter_async_context(bench_database(options.database, workdir))
        emu = await cleanup.enter_async_context(
            BotApiEmulator(token="123456:BENCH", bot_username="daifu_bot", bot_name="daifu")
        )
        progress(f"emulator at {emu.base_url.removesuffix('/bot')}")
        replies = BotReplies(emu)
        cleanup.callback(replies.close)

        echo = EchoScenario(emu, replies, options)
        echo_bot = echo_process(emu, workdir=workdir)
        echo_figures = await measure(echo_bot, echo, emu, progress, backlog=echo.backlog)

        shop = CheckoutScenario(emu, replies, options)
        daifu_bot = daifu_process(emu, workdir=workdir, database_url=database.url, admin_id=shop.admin.id)
        daifu_figures = await measure(daifu_bot, shop, emu, progress, prepare=shop.make_orders)
        return Results(
            started_at=started_at,
            machine=machine(),
            options={k: str(v) if isinstance(v, Path) else v for k, v in vars(options).items()},
            emulator_url=emu.base_url.removesuffix("/bot"),
            database=database.description,
            orders_made=shop.orders_needed,
            orders_seconds=shop.orders_s,
            echo=echo_figures,
            daifu=daifu_figures,
        )
