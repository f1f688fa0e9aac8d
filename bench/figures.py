"""What a run measures, per bot: the closed-loop throughput run and the fixed-rate latency run."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from bench.counting import CountingQueue, UpdateCount
from bench.processes import machine_busy_seconds
from bench.stats import Latency


@dataclass(frozen=True)
class Spent:
    """Wall time, the bot's CPU time, the benchmark process's own CPU time and the updates over one run."""

    wall_s: float
    bot_cpu_s: float
    harness_cpu_s: float
    machine_cpu_s: float
    updates: dict[str, int]  # queued for the bot by the emulator, by kind

    @property
    def bot_share(self) -> float:
        return self.bot_cpu_s / self.wall_s

    @property
    def harness_share(self) -> float:
        return self.harness_cpu_s / self.wall_s

    @property
    def other_share(self) -> float:
        """Everything else the machine did meanwhile (other processes, kernel networking), in cores."""
        return max(0.0, self.machine_cpu_s - self.bot_cpu_s - self.harness_cpu_s) / self.wall_s


class Measured(Protocol):
    """A bot process, or several workers counted together."""

    def cpu_seconds(self) -> float: ...


class Stopwatch:
    """Started right before a run; read right after it."""

    def __init__(self, bot: Measured, updates: CountingQueue) -> None:
        self._bot = bot
        self._updates = UpdateCount(updates)
        self._wall = time.perf_counter()
        self._bot_cpu = bot.cpu_seconds()
        # process_time counts this process's CPU: the emulator and the load generator. Near 100% means
        # the harness, not the bot, was the bottleneck, and the bot's figures are a lower bound.
        self._harness_cpu = time.process_time()
        # On a shared machine other work competes for the cores; the report shows how much there was.
        self._machine_cpu = machine_busy_seconds()

    def read(self) -> Spent:
        return Spent(
            wall_s=time.perf_counter() - self._wall,
            bot_cpu_s=self._bot.cpu_seconds() - self._bot_cpu,
            harness_cpu_s=time.process_time() - self._harness_cpu,
            machine_cpu_s=machine_busy_seconds() - self._machine_cpu,
            updates=dict(self._updates.read()),
        )


@dataclass(frozen=True)
class Throughput:
    """People acting as fast as the bot answers them (closed loop)."""

    concurrency: int
    unit: str  # what one item is: "text" (echo), "checkout flow" or "pay-for-me journey" (daifu)
    items: int
    updates: int  # counted as the emulator queued them for the bot, not assumed
    updates_per_item: float
    update_kinds: dict[str, int]  # the updates by kind: message, callback_query, pre_checkout_query...
    wall_s: float
    items_per_s: float
    updates_per_s: float
    bot_cpu_ms_per_item: float
    bot_cpu_ms_per_update: float
    bot_cpu_share: float  # in cores: 1.0 is one core busy all the time
    harness_cpu_share: float
    other_cpu_share: float
    reply: Latency  # every update's reply, as people saw it
    pre_checkout: Latency | None  # daifu only: pre_checkout_query to answerPreCheckoutQuery

    @classmethod
    def of(
        cls,
        *,
        concurrency: int,
        unit: str,
        items: int,
        spent: Spent,
        reply: Latency,
        pre_checkout: Latency | None = None,
    ) -> Throughput:
        kinds = dict(sorted(spent.updates.items()))
        total = sum(kinds.values())
        return cls(
            concurrency=concurrency,
            unit=unit,
            items=items,
            updates=total,
            updates_per_item=total / items,
            update_kinds=kinds,
            wall_s=spent.wall_s,
            items_per_s=items / spent.wall_s,
            updates_per_s=total / spent.wall_s,
            bot_cpu_ms_per_item=spent.bot_cpu_s * 1000 / items,
            bot_cpu_ms_per_update=spent.bot_cpu_s * 1000 / total,
            bot_cpu_share=spent.bot_share,
            harness_cpu_share=spent.harness_share,
            other_cpu_share=spent.other_share,
            reply=reply,
            pre_checkout=pre_checkout,
        )


@dataclass(frozen=True)
class FixedRate:
    """Updates offered at a steady rate below Telegram's ceiling (open loop): latency as people feel it."""

    offered_updates_per_s: float
    achieved_updates_per_s: float  # the rate at which items really started, times the updates each counted
    items: int
    updates: int  # counted as the emulator queued them for the bot
    wall_s: float
    bot_cpu_ms_per_update: float
    bot_cpu_share: float
    other_cpu_share: float
    reply: Latency
    pre_checkout: Latency | None
    steps: dict[str, Latency]  # daifu: the reply latency of each step of a checkout or journey

    @classmethod
    def of(
        cls,
        *,
        offered: float,
        items: int,
        items_started_per_s: float,
        spent: Spent,
        reply: Latency,
        pre_checkout: Latency | None = None,
        steps: dict[str, Latency] | None = None,
    ) -> FixedRate:
        updates = sum(spent.updates.values())
        return cls(
            offered_updates_per_s=offered,
            achieved_updates_per_s=items_started_per_s * updates / items,
            items=items,
            updates=updates,
            wall_s=spent.wall_s,
            bot_cpu_ms_per_update=spent.bot_cpu_s * 1000 / updates,
            bot_cpu_share=spent.bot_share,
            other_cpu_share=spent.other_share,
            reply=reply,
            pre_checkout=pre_checkout,
            steps=steps or {},
        )


@dataclass(frozen=True)
class BotFigures:
    name: str
    startup_s: float  # from spawning the process to its first getUpdates
    peak_rss_mb: float
    throughput: Throughput
    fixed_rate: FixedRate
    backlog: Throughput | None = None  # echo only: a queue of texts drained in batches, for calibration
