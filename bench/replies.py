"""The bot's messages as they reach the emulator, time-stamped there and queued per chat.

Stamping in the emulator's event callback (called while it handles the bot's sendMessage) keeps
the time it takes the load generator to get round to a reply out of the reply latency.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from emulator import BotApiEmulator


class UnexpectedReply(RuntimeError):
    """The bot said something other than what the flow expects next: the run measures nothing valid."""


@dataclass(frozen=True)
class Reply:
    at: float  # time.perf_counter() when the emulator received the message
    message: dict[str, Any]

    @property
    def text(self) -> str:
        return str(self.message.get("text") or self.message.get("caption") or "")


class BotReplies:
    def __init__(self, emu: BotApiEmulator) -> None:
        self._queues: defaultdict[int, asyncio.Queue[Reply]] = defaultdict(asyncio.Queue)
        self._unsubscribe = emu.subscribe(self._on_event)

    def close(self) -> None:
        self._unsubscribe()

    def _on_event(self, event: dict[str, Any]) -> None:
        if event["type"] != "message" or not event["message"]["from"]["is_bot"]:
            return
        self._queues[event["chat_id"]].put_nowait(Reply(time.perf_counter(), event["message"]))

    async def next(self, chat_id: int, expect: Callable[[Reply], bool], what: str, *, timeout: float) -> Reply:
        """The bot's next message in chat, which must be what the flow expects (UnexpectedReply if not).

        Strict on purpose: a flow that went wrong (say, "this order is already paid") must stop the
        run, not be counted as a fast checkout.
        """
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation (Ctrl-C)
            # that lands just as the reply arrives, and the run would carry on.
            async with asyncio.timeout(timeout):
                reply = await self._queues[chat_id].get()
        except TimeoutError:
            raise UnexpectedReply(f"no {what} in chat {chat_id} within {timeout:g}s") from None
        if not expect(reply):
            raise UnexpectedReply(f"expected {what} in chat {chat_id}, got {reply.text[:200]!r}")
        return reply

    async def collect(
        self, chat_id: int, count: int, expect: Callable[[Reply], bool], what: str, *, timeout: float
    ) -> list[Reply]:
        return [await self.next(chat_id, expect, what, timeout=timeout) for _ in range(count)]

    def discard(self, chat_id: int) -> int:
        """Forget what is queued for chat (messages nobody waits for); returns how many there were."""
        queue = self._queues[chat_id]
        dropped = queue.qsize()
        while not queue.empty():
            queue.get_nowait()
        return dropped


EventKey = Callable[[dict[str, Any]], Hashable | None]


class KeyedReplies:
    """Bot messages or edits that many journeys wait for at once, each picked out by a key of its own.

    For what arrives in a shared place in no set order: the admin's payment notes (keyed by order token),
    the edits of request cards (keyed by chat and message). Kept from the moment they arrive, so a journey
    that asks after its note came still gets it.
    """

    def __init__(self, emu: BotApiEmulator, key_of: EventKey) -> None:
        self._key_of = key_of
        self._queues: dict[Hashable, asyncio.Queue[Reply]] = {}
        self._unsubscribe = emu.subscribe(self._on_event)

    def close(self) -> None:
        self._unsubscribe()

    def _on_event(self, event: dict[str, Any]) -> None:
        key = self._key_of(event)
        if key is not None:
            self._queue(key).put_nowait(Reply(time.perf_counter(), event["message"]))

    def _queue(self, key: Hashable) -> asyncio.Queue[Reply]:
        return self._queues.setdefault(key, asyncio.Queue())

    async def next(self, key: Hashable, expect: Callable[[Reply], bool], what: str, *, timeout: float) -> Reply:
        """The next reply under key, which must be what the journey expects (UnexpectedReply if not)."""
        queue = self._queue(key)
        try:
            async with asyncio.timeout(timeout):
                reply = await queue.get()
        except TimeoutError:
            raise UnexpectedReply(f"no {what} ({key}) within {timeout:g}s") from None
        if queue.empty():
            del self._queues[key]  # each key is one journey's: nothing more is waited for under it, as a rule
        if not expect(reply):
            raise UnexpectedReply(f"expected {what} ({key}), got {reply.text[:200]!r}")
        return reply

    async def next_if_any(self, key: Hashable, timeout: float) -> Reply | None:
        """The next reply under key, or None if none comes within timeout (for what the bot may fail to send)."""
        queue = self._queue(key)
        try:
            async with asyncio.timeout(timeout):
                reply = await queue.get()
        except TimeoutError:
            return None
        if queue.empty():
            del self._queues[key]
        return reply

    def pending(self) -> int:
        """Replies kept that nobody took (after a run: what the bot said that no journey expected)."""
        return sum(queue.qsize() for queue in self._queues.values())
