"""Driving the echo bot: each update is a text, each reply its echo."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable

from bench.counting import counting_queue
from bench.figures import FixedRate, Measured, Stopwatch, Throughput
from bench.load import PeoplePool, closed_loop, open_loop, people_for
from bench.options import Options
from bench.replies import BotReplies, Reply
from bench.stats import Latency
from emulator import BotApiEmulator, User


def echo_of(text: str) -> Callable[[Reply], bool]:
    return lambda reply: reply.text == text


class EchoScenario:
    def __init__(self, emu: BotApiEmulator, replies: BotReplies, options: Options) -> None:
        self.emu = emu
        self.replies = replies
        self.options = options
        count = people_for(options.concurrency)
        self.people = [emu.add_user(f"Echo {n}", username=f"echo_{n}") for n in range(count)]
        self.updates = counting_queue(emu)
        self._texts = itertools.count(1)

    async def say(self, person: User, _job: object = None) -> float:
        """Send a text; returns the seconds until the bot's echo of it reached the emulator."""
        text = f"echo {next(self._texts)}"
        sent = time.perf_counter()
        await self.emu.send_text(person, text)
        reply = await self.replies.next(
            person.id, echo_of(text), f"the echo of {text!r}", timeout=self.options.reply_timeout
        )
        return reply.at - sent

    async def warm_up(self) -> None:
        count = self.options.warmup * 10
        await closed_loop(self.options.concurrency, range(count), PeoplePool(self.people), self.say)

    async def throughput(self, bot: Measured) -> Throughput:
        jobs = range(self.options.echo_updates)
        watch = Stopwatch(bot, self.updates)
        latencies = await closed_loop(self.options.concurrency, jobs, PeoplePool(self.people), self.say)
        return Throughput.of(
            concurrency=self.options.concurrency,
            unit="text",
            items=len(latencies),
            spent=watch.read(),
            reply=Latency.of(latencies),
        )

    async def backlog(self, bot: Measured) -> Throughput:
        """Every text queued before the bot sees any: getUpdates then returns full batches of 100.

        This is how a bare echo bot is usually benchmarked, so it calibrates the machine against known
        figures; the closed-loop run is the one that compares with daifu.
        """
        people = itertools.cycle(self.people)
        texts = [(next(people), f"echo {next(self._texts)}") for _ in range(self.options.echo_updates)]
        watch = Stopwatch(bot, self.updates)
        sent_at: list[float] = []
        for person, text in texts:  # send_text never waits, so the bot gets nothing until all are queued
            sent_at.append(time.perf_counter())
            await self.emu.send_text(person, text)
        latencies: list[float] = []
        for (person, text), sent in zip(texts, sent_at, strict=True):
            # A chat's replies come in the order of its texts, so reading them in sending order matches them.
            reply = await self.replies.next(
                person.id,
                echo_of(text),
                f"the echo of {text!r}",
                timeout=self.options.reply_timeout,
            )
            latencies.append(reply.at - sent)
        return Throughput.of(
            concurrency=len(texts),
            unit="text",
            items=len(texts),
            spent=watch.read(),
            reply=Latency.of(latencies),
        )

    async def fixed_rate(self, bot: Measured, rate: float) -> FixedRate:
        jobs = range(max(2, math.ceil(rate * self.options.latency_seconds)))
        watch = Stopwatch(bot, self.updates)
        latencies, started = await open_loop(rate, jobs, PeoplePool(self.people), self.say)
        return FixedRate.of(
            offered=rate,
            items=len(latencies),
            items_started_per_s=started,
            spent=watch.read(),
            reply=Latency.of(latencies),
        )
