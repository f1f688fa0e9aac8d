"""One benchmark run: the emulator in this process, then the echo bot and daifu in turn as subprocesses.

In polling mode each bot polls the emulator's getUpdates; in webhook mode each sets a webhook on its own
loopback port and the emulator (or bench.webhooks' concurrent pusher) POSTs the updates to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import telegram
from sqlalchemy.engine import make_url

from bench.bots import Webhook, daifu_process, echo_process
from bench.counting import counting_queue
from bench.database import bench_database
from bench.echo_scenario import EchoScenario
from bench.figures import BotFigures, FixedRate, Measured, Throughput
from bench.journeys import daifu_scenario
from bench.options import Options
from bench.processes import BotFailed, BotProcess, Readiness, free_port, polls, serves_webhook
from bench.replies import BotReplies
from bench.webhooks import use_webhooks
from emulator import BotApiEmulator

Progress = Callable[[str], None]
STARTUP_TIMEOUT = 60.0
# Without --rate, the latency run offers each bot this share of the updates/s of its own throughput run:
# loaded, with room to spare, as a bot should be run.
SHARE_OF_MAXIMUM = 0.5


class Scenario(Protocol):
    async def warm_up(self) -> None: ...
    async def throughput(self, bot: Measured) -> Throughput: ...
    async def fixed_rate(self, bot: Measured, rate: float) -> FixedRate: ...


@dataclass(frozen=True)
class Results:
    started_at: str
    command: str
    mode: str  # polling or webhook
    journey: str  # what daifu is driven through: checkout or payforme
    delivery: str  # how updates reach the bots
    machine: dict[str, Any]
    options: dict[str, Any]
    emulator_url: str
    database: str
    orders_made: int
    orders_seconds: float
    shadowed_links: list[str]  # orders made again: /start took their token for a request's (a daifu bug)
    stale_cards: dict[str, int]  # pay for me: request cards not showing "Paid by" at the end of their run (a daifu bug)
    echo: BotFigures
    daifu: BotFigures


def latency_rate(options: Options, throughput: Throughput) -> float:
    return options.rate if options.rate is not None else SHARE_OF_MAXIMUM * throughput.updates_per_s


async def measure(
    bot: BotProcess,
    ready: Readiness,
    scenario: Scenario,
    emu: BotApiEmulator,
    progress: Progress,
    options: Options,
    prepare: Callable[[], Awaitable[None]] | None = None,
    backlog: Callable[[Measured], Awaitable[Throughput]] | None = None,
) -> BotFigures:
    spawned = time.perf_counter()
    await bot.start(ready, timeout=STARTUP_TIMEOUT)
    startup_s = time.perf_counter() - spawned
    try:
        if prepare is not None:
            await prepare()
        progress(f"{bot.name}: receiving updates after {startup_s:.1f}s; warming up")
        await scenario.warm_up()
        progress(f"{bot.name}: throughput run")
        throughput = await scenario.throughput(bot)
        rate = latency_rate(options, throughput)
        progress(
            f"{bot.name}: {throughput.updates_per_s:.0f} updates/s ({throughput.updates_per_item:g} per "
            f"{throughput.unit}); fixed-rate latency run at {rate:.1f} updates/s"
        )
        fixed_rate = await scenario.fixed_rate(bot, rate)
        drained = None
        if backlog is not None:
            progress(f"{bot.name}: backlog run")
            drained = await backlog(bot)
        rss = bot.peak_rss_mb()
    finally:
        code = await bot.stop()
        # What deleteWebhook does: the next bot starts with no webhook (a polling one would get 409).
        emu.world.webhook = None
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


def receiving(emu: BotApiEmulator, options: Options) -> tuple[Webhook | None, Readiness]:
    """A bot's webhook in webhook mode (a fresh port each), and how to tell that it is up."""
    if options.mode != "webhook":
        return None, polls(emu)
    port = free_port()
    webhook = Webhook(port=port, public_url=f"http://127.0.0.1:{port}", secret=secrets.token_urlsafe(16))
    return webhook, serves_webhook(emu, port)


async def run_benchmark(options: Options, progress: Progress) -> Results:
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    async with asyncio.timeout(options.max_seconds), contextlib.AsyncExitStack() as cleanup:
        workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="daifu-bench-")))
        # The database first: a server that cannot make one should fail the run before anything is timed.
        database = await cleanup.enter_async_context(bench_database(options.database, workdir))
        emu = BotApiEmulator(token="123456:BENCH", bot_username="daifu_bot", bot_name="daifu")
        delivery = "getUpdates long polling (batches of up to 100)"
        if options.mode == "webhook":
            delivery = use_webhooks(emu, options.webhook_connections)
        counting_queue(emu)  # every update the bots get is counted from the first one
        await cleanup.enter_async_context(emu)
        progress(f"emulator at {emu.base_url.removesuffix('/bot')}")
        replies = BotReplies(emu)
        cleanup.callback(replies.close)

        echo = EchoScenario(emu, replies, options)
        webhook, ready = receiving(emu, options)
        echo_bot = echo_process(emu, workdir=workdir, webhook=webhook)
        echo_figures = await measure(echo_bot, ready, echo, emu, progress, options, backlog=echo.backlog)

        shop = daifu_scenario(emu, replies, options)
        cleanup.callback(shop.close)
        webhook, ready = receiving(emu, options)
        daifu_bot = daifu_process(
            emu, workdir=workdir, database_url=database.url, admin_id=shop.admin.id, webhook=webhook
        )
        daifu_figures = await measure(daifu_bot, ready, shop, emu, progress, options, prepare=shop.make_orders)
        return Results(
            started_at=started_at,
            command=options.command,
            mode=options.mode,
            journey=options.journey,
            delivery=delivery,
            machine=machine(),
            options=plain_options(options),
            emulator_url=emu.base_url.removesuffix("/bot"),
            database=database.description,
            orders_made=shop.orders.made,
            orders_seconds=shop.orders.seconds,
            shadowed_links=shop.orders.shadowed_links,
            stale_cards=dict(shop.stale_cards),
            echo=echo_figures,
            daifu=daifu_figures,
        )


def plain_options(options: Options) -> dict[str, Any]:
    """The options as JSON takes them, the database URL without its password."""
    plain = {k: str(v) if isinstance(v, Path) else v for k, v in vars(options).items()}
    if str(plain["database"]).startswith("postgresql"):
        plain["database"] = make_url(plain["database"]).render_as_string(hide_password=True)
    return plain
