"""``--miniapp``: the Mini App's API against the chat doing the same, on one daifu (webhook mode).

First the pay-for-me journey runs as in the webhook benchmark (its warm-up and a short throughput run), so that
every shopper has orders asked of a friend and every friend has paid for one. Then, each for the same time and with
the same people acting at once:
- the list of my orders: `GET /app/api/me` signed with the person's init data, against `/my` sent in the chat and
  answered;
- opening an invoice: the app's order screen and its invoice link (`GET /app/api/orders/<token>`, then
  `POST /app/api/orders/<token>/invoice`), against the chat's `/start <token>` and the tap on "Pay by card" that
  sends the invoice.
Each side reports calls per second, latency p50/p99 and the bot's CPU per call; the ratios are app over chat.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench.benchmark import STARTUP_TIMEOUT, machine, plain_options, receiving
from bench.bots import daifu_process
from bench.database import bench_database
from bench.journeys import daifu_scenario
from bench.options import Options
from bench.orders import token_of
from bench.payforme_scenario import PayForMeScenario, has_button
from bench.processes import BotProcess
from bench.replies import BotReplies, Reply
from bench.stats import Latency
from bench.webhooks import use_webhooks
from emulator import BotApiEmulator, User

Progress = Callable[[str], None]
Act = Callable[[User, Any], Awaitable[None]]


@dataclass(frozen=True)
class Side:
    """One way of doing a thing, over one timed stretch."""

    calls: int
    seconds: float
    bot_cpu_s: float
    latency: Latency

    @property
    def per_s(self) -> float:
        return self.calls / self.seconds

    @property
    def cpu_ms_per_call(self) -> float:
        return self.bot_cpu_s / self.calls * 1000


@dataclass(frozen=True)
class Comparison:
    what: str
    app: Side
    chat: Side


@dataclass(frozen=True)
class MiniAppResults:
    started_at: str
    command: str
    machine: dict[str, Any]
    options: dict[str, Any]
    database: str
    comparisons: list[Comparison]


async def timed(bot: BotProcess, people: Sequence[User], jobs: Sequence[Any], act: Act, concurrency: int) -> Side:
    """Run act over jobs, `concurrency` people at a time (each person acting once at a time); time each act."""
    pending = iter(jobs)
    idle: asyncio.Queue[User] = asyncio.Queue()
    for person in people:
        idle.put_nowait(person)
    samples: list[float] = []

    async def at_work() -> None:
        for job in pending:
            person = await idle.get()
            try:
                began = time.perf_counter()
                await act(person, job)
                samples.append(time.perf_counter() - began)
            finally:
                idle.put_nowait(person)

    cpu, wall = bot.cpu_seconds(), time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(at_work())
    return Side(len(samples), time.perf_counter() - wall, bot.cpu_seconds() - cpu, Latency.of(samples))


class AppClient:
    """The Mini App's calls, as the page makes them, signed with each person's init data."""

    def __init__(self, emu: BotApiEmulator, base_url: str, session: aiohttp.ClientSession) -> None:
        self.emu = emu
        self.base_url = base_url
        self.session = session

    def _headers(self, person: User) -> dict[str, str]:
        return {"Authorization": f"tma {self.emu.mini_app_init_data(person)}"}

    async def call(self, method: str, person: User, path: str, body: dict[str, Any] | None = None) -> Any:
        url = f"{self.base_url}/app/api/{path}"
        async with self.session.request(method, url, headers=self._headers(person), json=body) as response:
            answer = await response.json()
            if response.status != 200:
                raise RuntimeError(f"{method} {path}: {response.status} {answer}")
            return answer


def is_my_list(reply: Reply) -> bool:
    return "#" in reply.text or "order" in reply.text.lower()


async def run_miniapp(options: Options, progress: Progress) -> MiniAppResults:
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    async with asyncio.timeout(options.max_seconds), contextlib.AsyncExitStack() as cleanup:
        workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="daifu-bench-")))
        database = await cleanup.enter_async_context(bench_database(options.database, workdir))
        emu = BotApiEmulator(token="123456:BENCH", bot_username="daifu_bot", bot_name="daifu")
        use_webhooks(emu, options.webhook_connections)
        await cleanup.enter_async_context(emu)
        replies = BotReplies(emu)
        cleanup.callback(replies.close)
        scenario = daifu_scenario(emu, replies, options)
        assert isinstance(scenario, PayForMeScenario)
        cleanup.callback(scenario.close)
        webhook, ready = receiving(emu, options)
        assert webhook is not None
        bot = daifu_process(
            emu, workdir=workdir, database_url=database.url, admin_id=scenario.admin.id, webhook=webhook
        )
        await bot.start(ready, timeout=STARTUP_TIMEOUT)
        cleanup.push_async_callback(bot.stop)
        progress("daifu: making orders and paying them by friends, as the webhook benchmark does")
        await scenario.make_orders()
        await scenario.warm_up()
        await scenario.throughput(bot)
        people = [person for pair in scenario.pairs for person in (pair.shopper, pair.friend)]
        session = await cleanup.enter_async_context(aiohttp.ClientSession())
        app = AppClient(emu, webhook.public_url, session)
        comparisons = [
            await compare_lists(bot, app, emu, replies, people, options, progress),
            await compare_invoices(bot, app, emu, replies, scenario, people, options, progress),
        ]
        return MiniAppResults(
            started_at=started_at,
            command=options.command,
            machine=machine(),
            options=plain_options(options),
            database=database.description,
            comparisons=comparisons,
        )


async def compare_lists(
    bot: BotProcess,
    app: AppClient,
    emu: BotApiEmulator,
    replies: BotReplies,
    people: Sequence[User],
    options: Options,
    progress: Progress,
) -> Comparison:
    calls = 2 * options.flows  # a list is the cheaper call: twice as many, for as steady a p99
    timeout = options.reply_timeout

    async def in_app(person: User, _job: int) -> None:
        answer = await app.call("GET", person, "me")
        if not answer["orders"]:
            raise RuntimeError(f"{person.first_name} has no orders in the app")

    async def in_chat(person: User, _job: int) -> None:
        await emu.send_text(person, "/my")
        await replies.next(person.id, is_my_list, "the /my list", timeout=timeout)

    for person in people:  # what the journeys left unread
        replies.discard(person.id)
    progress(f"the list of my orders: {calls} times in the app, then in the chat")
    app_side = await timed(bot, people, range(calls), in_app, options.concurrency)
    chat_side = await timed(bot, people, range(calls), in_chat, options.concurrency)
    return Comparison("my orders: GET /app/api/me against /my", app_side, chat_side)


async def compare_invoices(
    bot: BotProcess,
    app: AppClient,
    emu: BotApiEmulator,
    replies: BotReplies,
    scenario: PayForMeScenario,
    people: Sequence[User],
    options: Options,
    progress: Progress,
) -> Comparison:
    calls = options.flows
    timeout = options.reply_timeout
    await scenario.orders.make(2 * calls)
    links = scenario.orders.take(2 * calls)
    for person in people:
        replies.discard(person.id)

    async def in_app(person: User, link: str) -> None:
        token = token_of(link)
        await app.call("GET", person, f"orders/{token}")
        answer = await app.call("POST", person, f"orders/{token}/invoice", {"method": "telegram"})
        if not str(answer.get("url", "")).startswith("https://t.me/"):
            raise RuntimeError(f"no invoice link: {answer}")

    async def in_chat(person: User, link: str) -> None:
        await emu.open_link(person, link)
        card = await replies.next(person.id, has_button("Pay by card"), "the order card", timeout=timeout)
        await emu.click(person, card.message, "Pay by card")
        await replies.next(person.id, lambda reply: "invoice" in reply.message, "the invoice", timeout=timeout)

    progress(f"opening an invoice: {calls} orders in the app, {calls} others in the chat")
    app_side = await timed(bot, people, links[:calls], in_app, options.concurrency)
    chat_side = await timed(bot, people, links[calls:], in_chat, options.concurrency)
    return Comparison("an invoice: order screen + invoice link against /start + Pay by card", app_side, chat_side)


def render_miniapp(results: MiniAppResults) -> str:
    lines = [
        f"command: {results.command}",
        f"{results.started_at} | {results.database} | Mini App API against the chat, same people, same daifu",
        "",
    ]
    for comparison in results.comparisons:
        app, chat = comparison.app, comparison.chat
        lines += [
            comparison.what,
            f"  {'':34}{'app':>12}{'chat':>12}{'app/chat':>10}",
            f"  {'calls':34}{app.calls:>12}{chat.calls:>12}{'':>10}",
            f"  {'calls/s':34}{app.per_s:>12.0f}{chat.per_s:>12.0f}{app.per_s / chat.per_s:>9.2f}x",
            f"  {'latency p50 ms':34}{app.latency.p50_ms:>12.1f}{chat.latency.p50_ms:>12.1f}"
            f"{app.latency.p50_ms / chat.latency.p50_ms:>9.2f}x",
            f"  {'latency p99 ms':34}{app.latency.p99_ms:>12.1f}{chat.latency.p99_ms:>12.1f}"
            f"{app.latency.p99_ms / chat.latency.p99_ms:>9.2f}x",
            f"  {'bot CPU ms per call':34}{app.cpu_ms_per_call:>12.2f}{chat.cpu_ms_per_call:>12.2f}"
            f"{app.cpu_ms_per_call / chat.cpu_ms_per_call:>9.2f}x",
            "",
        ]
    return "\n".join(lines)
