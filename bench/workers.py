"""``--workers N``: daifu with one worker, then with N, on one database, in webhook mode, behind a load balancer.

Each configuration gets a fresh emulator, a fresh database and its own orders, and the same load: the
journey's warm-up (pay for me by default, or --journey checkout), then its closed-loop throughput run. Both
configurations go through the balancer (bench.balancer, a process of its own), so they differ only in the
number of workers behind it.
The workers are started one after the other (each migrates the schema at start; the second finds it done)
and all call setWebhook with the balancer's address, as production workers would.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.balancer import read_counts
from bench.benchmark import STARTUP_TIMEOUT, machine, plain_options
from bench.bots import Webhook, balancer_process, daifu_process
from bench.counting import counting_queue
from bench.cpu_cap import CpuCap, cap_name
from bench.database import bench_database
from bench.figures import Throughput
from bench.journeys import daifu_scenario
from bench.options import Options
from bench.processes import BotFailed, BotProcess, ProcessGroup, free_port, listens, serves_webhook
from bench.replies import BotReplies
from bench.webhooks import use_webhooks
from emulator import BotApiEmulator

Progress = Callable[[str], None]


@dataclass(frozen=True)
class WorkersFigures:
    workers: int
    startup_s: float  # all workers up, one after the other
    orders_made: int
    orders_s: float
    shadowed_links: list[str]  # orders made again: /start took their token for a request's (a daifu bug)
    stale_cards: dict[str, int]  # pay for me: request cards not showing "Paid by" after the run (a daifu bug)
    throughput: Throughput  # bot CPU is the sum over the workers
    worker_cpu_shares: list[float]  # in cores, each worker over the throughput run
    balancer_cpu_share: float
    worker_throttled_s: list[float]  # --worker-cpu: how long the kernel held each worker back over the run
    worker_peak_rss_mb: list[float]
    balanced: dict[str, int]  # requests the balancer sent to each worker, over the whole configuration


@dataclass(frozen=True)
class WorkersResults:
    started_at: str
    command: str
    machine: dict[str, Any]
    options: dict[str, Any]
    journey: str
    database: str
    delivery: str
    runs: list[WorkersFigures]


class CpuOf:
    """One process's CPU time over a run, in cores."""

    def __init__(self, process: BotProcess) -> None:
        self._process = process
        self._wall = time.perf_counter()
        self._cpu = process.cpu_seconds()

    def share(self) -> float:
        return (self._process.cpu_seconds() - self._cpu) / (time.perf_counter() - self._wall)


async def stop_all(processes: list[BotProcess], progress: Progress) -> None:
    for process in processes:
        code = await process.stop()
        if code not in (0, None):
            progress(f"warning: {process.name} exited with code {code} when asked to stop\n{process.log_tail()}")


async def run_configuration(
    workers: int, options: Options, workdir: Path, progress: Progress
) -> tuple[WorkersFigures, str, str]:
    """One configuration's figures, with the database's description and how updates were delivered."""
    await asyncio.to_thread(workdir.mkdir)
    async with contextlib.AsyncExitStack() as cleanup:
        database = await cleanup.enter_async_context(bench_database(options.database, workdir))
        emu = BotApiEmulator(token="123456:BENCH", bot_username="daifu_bot", bot_name="daifu")
        delivery = use_webhooks(emu, options.webhook_connections)
        counting_queue(emu)
        await cleanup.enter_async_context(emu)
        replies = BotReplies(emu)
        cleanup.callback(replies.close)
        shop = daifu_scenario(emu, replies, options)
        cleanup.callback(shop.close)

        ports = [free_port() for _ in range(workers)]
        balancer_port = free_port()
        balancer = balancer_process(
            port=balancer_port, workers=[f"http://127.0.0.1:{port}" for port in ports], workdir=workdir
        )
        secret = secrets.token_urlsafe(16)
        daifus = [
            daifu_process(
                emu,
                workdir=workdir,
                database_url=database.url,
                admin_id=shop.admin.id,
                webhook=Webhook(port=port, public_url=f"http://127.0.0.1:{balancer_port}", secret=secret),
                name=f"daifu-{number}",
            )
            for number, port in enumerate(ports, start=1)
        ]
        started: list[BotProcess] = []
        # Stopped workers first, then the balancer (LIFO would stop the balancer last anyway).
        cleanup.push_async_callback(stop_all, started, progress)
        await balancer.start(listens(balancer_port), timeout=STARTUP_TIMEOUT)
        started.append(balancer)
        spawned = time.perf_counter()
        caps: list[CpuCap] = []
        for daifu in daifus:
            started.insert(0, daifu)
            await daifu.start(serves_webhook(emu, daifu_port(daifu)), timeout=STARTUP_TIMEOUT)
            if options.worker_cpu is not None:
                cap = CpuCap(cap_name(daifu.name), options.worker_cpu)
                cleanup.callback(cap.close)
                cap.add(daifu.pid)
                caps.append(cap)
        startup_s = time.perf_counter() - spawned
        group = ProcessGroup("daifu", daifus)
        label = f"{workers} worker{'s' if workers > 1 else ''}"
        progress(f"{label}: all up after {startup_s:.1f}s; making orders")
        await shop.make_orders()
        progress(f"{label}: warming up")
        await shop.warm_up()
        progress(f"{label}: throughput run")
        cpus = [CpuOf(daifu) for daifu in daifus]
        throttled_before = [cap.throttled_seconds() for cap in caps]
        balancer_cpu = CpuOf(balancer)
        throughput = await shop.throughput(group)
        worker_shares = [cpu.share() for cpu in cpus]
        throttled = [cap.throttled_seconds() - before for cap, before in zip(caps, throttled_before, strict=True)]
        balancer_share = balancer_cpu.share()
        group.check_alive()
        rss = [daifu.peak_rss_mb() for daifu in daifus]
        await stop_all(started, progress)
        started.clear()
        emu.world.webhook = None
        if emu.pending_updates:
            raise BotFailed(f"{label} left {len(emu.pending_updates)} updates undelivered")
        figures = WorkersFigures(
            workers=workers,
            startup_s=startup_s,
            orders_made=shop.orders.made,
            orders_s=shop.orders.seconds,
            shadowed_links=shop.orders.shadowed_links,
            stale_cards=dict(shop.stale_cards),
            throughput=throughput,
            worker_cpu_shares=worker_shares,
            balancer_cpu_share=balancer_share,
            worker_throttled_s=throttled,
            worker_peak_rss_mb=rss,
            balanced=read_counts(balancer.log_path.read_text(errors="replace")),
        )
        return figures, database.description, delivery


def daifu_port(process: BotProcess) -> int:
    return int(process.env["WEB_PORT"])


async def run_workers(options: Options, progress: Progress) -> WorkersResults:
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    async with asyncio.timeout(options.max_seconds):
        with tempfile.TemporaryDirectory(prefix="daifu-bench-") as temp:
            runs = []
            for workers in sorted({1, options.workers}):
                figures, description, delivery = await run_configuration(
                    workers, options, Path(temp) / f"{workers}-workers", progress
                )
                runs.append(figures)
    return WorkersResults(
        started_at=started_at,
        command=options.command,
        machine=machine(),
        options=plain_options(options),
        journey=options.journey,
        database=description,
        delivery=delivery,
        runs=runs,
    )
