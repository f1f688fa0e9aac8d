"""How a worker takes its updates: many people at once, each person's own updates one after another.

PTB's default handles every update strictly after the one before. A pre-checkout query then waits behind
whoever came first, though Telegram gives the bot only ten seconds for it, and a worker waiting on a
database commit does nothing else. Everything daifu changes is already safe with several workers at once
(conditional updates, unique keys, claims), so updates of different people may run side by side in one
worker as they do in two. A person's own updates keep their order: "/start" before the tap on its card.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from services.telling_delivery import tell_at_the_end

CONCURRENT_UPDATES = 32


def person_of(update: object) -> int | None:
    """Whose updates must keep their order: the person acting, else the chat (None: no order to keep).

    A pre-checkout query keeps no order: it comes after the invoice it is about was sent, so everything it
    reads is committed by then, and it must not wait while the same person's tap is still editing cards.
    """
    if not isinstance(update, Update) or update.pre_checkout_query is not None:
        return None
    if update.effective_user is not None:
        return update.effective_user.id
    if update.effective_chat is not None:
        return update.effective_chat.id
    return None


class OnePersonAtATime(BaseUpdateProcessor):
    """Up to CONCURRENT_UPDATES updates at once, never two of the same person."""

    def __init__(self, max_concurrent_updates: int = CONCURRENT_UPDATES) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}  # how many updates hold or wait for each person's lock

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """What the update changed is told once its handlers are done, before the person's next update."""
        person = person_of(update)
        if person is None:
            async with tell_at_the_end():
                await coroutine
            return
        lock = self._locks.setdefault(person, asyncio.Lock())
        self._waiting[person] = self._waiting.get(person, 0) + 1
        try:
            # asyncio.Lock wakes its waiters first come, first served: order is kept.
            async with lock, tell_at_the_end():
                await coroutine
        finally:
            self._waiting[person] -= 1
            if not self._waiting[person]:  # nobody else queued for this person: forget the lock
                del self._waiting[person]
                del self._locks[person]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to close: PTB waits for the updates in hand before it calls this."""
