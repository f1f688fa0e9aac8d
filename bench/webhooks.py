"""Webhook delivery for the benchmark: the emulator's own pusher, or one that POSTs several updates at once.

The emulator's WebhookPusher (emulator/webhook_pusher.py) POSTs one update, waits for the answer, then
the next: Telegram's order, and a ceiling on throughput of one round trip per update. ConcurrentPusher
keeps up to N POSTs open at once, as Telegram does with a webhook's max_connections (40 by default, up
to 100), and still never has two updates of one person in flight together, so each person's updates
arrive in the order they were made (a shopper's tap never overtakes the /start before it).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from bench.counting import CountingQueue
from emulator import BotApiEmulator
from emulator.state import World
from emulator.webhook_pusher import WebhookPusher

TELEGRAM_DEFAULT_CONNECTIONS = 40


class ForgettingQueue(CountingQueue):
    """The (counting) update queue, plus forgetting one delivered update whatever comes before it.

    (confirm(offset) forgets everything below offset: right for getUpdates and for one-at-a-time delivery,
    wrong when the update after it was delivered first.)
    """

    def forget(self, update_id: int) -> None:
        for index, update in enumerate(self._pending):
            if update["update_id"] == update_id:
                del self._pending[index]
                return


def sender(update: dict[str, Any]) -> int | None:
    """Whose update this is: the person who sent the message, tapped the button or is paying."""
    body = next(value for key, value in update.items() if key != "update_id")
    person = body.get("from") if isinstance(body, dict) else None
    if isinstance(person, dict) and isinstance(person.get("id"), int):
        return int(person["id"])
    chat = body.get("chat") if isinstance(body, dict) else None
    return int(chat["id"]) if isinstance(chat, dict) and isinstance(chat.get("id"), int) else None


class ConcurrentPusher(WebhookPusher):
    """Up to `connections` updates POSTed at once; one at a time per person; retried until answered 2xx."""

    def __init__(self, world: World, connections: int) -> None:
        super().__init__(world)
        if world.updates.pending_count:
            raise RuntimeError("install the concurrent pusher before any update is queued")
        self.queue = ForgettingQueue()
        world.updates = self.queue
        self.connections = connections
        self._in_flight: dict[int, int | None] = {}  # update_id -> its sender

    def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.connections)
        self._session = aiohttp.ClientSession(timeout=self.timeout, connector=connector)
        self._task = asyncio.create_task(self._run(), name="bench-webhook-pusher")

    async def _run(self) -> None:
        # Cancelling this task (stop()) cancels the deliveries in flight with it.
        async with asyncio.TaskGroup() as deliveries:
            while not self.world.stopping:
                for update in self._next_batch():
                    deliveries.create_task(self._deliver(update))
                # Woken by every new update and by every delivery that ends (no change is missed: the
                # notifier's event is taken before this coroutine yields).
                await self.world.notifier.wait(1.0)

    def _next_batch(self) -> list[dict[str, Any]]:
        webhook = self.world.webhook
        if webhook is None:
            return []
        limit = min(self.connections, int(webhook.get("max_connections") or TELEGRAM_DEFAULT_CONNECTIONS))
        busy = set(self._in_flight.values())
        batch: list[dict[str, Any]] = []
        for update in self.queue.ready(self.queue.pending_count):
            if len(self._in_flight) >= limit:
                break
            update_id, who = update["update_id"], sender(update)
            if update_id in self._in_flight or (who is not None and who in busy):
                continue
            if who is not None:
                busy.add(who)
            self._in_flight[update_id] = who
            batch.append(update)
        return batch

    async def _deliver(self, update: dict[str, Any]) -> None:
        update_id = update["update_id"]
        try:
            if await self.post(update):
                self.queue.forget(update_id)
            else:
                await asyncio.sleep(self.retry_seconds)  # the person stays busy meanwhile: order is kept
        finally:
            del self._in_flight[update_id]
            self.world.notifier.notify()


def use_webhooks(emu: BotApiEmulator, connections: int) -> str:
    """Let bots set plain-HTTP loopback webhooks; with connections > 1, install ConcurrentPusher.

    Call before the emulator starts. Returns how updates are delivered, for the report.
    """
    emu.world.allow_http_webhooks = True
    if connections <= 1:
        return "the emulator's pusher: one update at a time, each POSTed once the one before was answered"
    emu.webhooks = ConcurrentPusher(emu.world, connections)
    return f"up to {connections} updates POSTed at once (each person's one at a time, in order)"
