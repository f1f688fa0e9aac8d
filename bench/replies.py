"""The bot's messages as they reach the emulator, time-stamped there and queued per chat.

Stamping in the emulator's event callback (called while it handles the bot's sendMessage) keeps
the time it takes the load generator to get round to a reply out of the reply latency.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.emulator import BotApiEmulator


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
