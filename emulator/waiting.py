"""Waking waiters when something changes, instead of sleeping in loops."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from .errors import NoAnswer

T = TypeVar("T")


class Notifier:
    """A broadcast "something changed" signal.

    Each notify() sets the current event and replaces it, so a waiter that captured the event
    before checking its condition cannot miss a change that happens between check and wait.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        """Return at the next change, or after timeout seconds."""
        await self._wait_on(self._event, timeout)

    async def wait_for(self, predicate: Callable[[], T | None], timeout: float, what: str = "condition") -> T:
        """Return predicate()'s first truthy result, re-checked at every change; NoAnswer on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._event
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise NoAnswer(f"timed out after {timeout:g}s waiting for {what}")
            await self._wait_on(event, remaining)

    @staticmethod
    async def _wait_on(event: asyncio.Event, timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            pass
