"""Polling mode (the default for one process): getUpdates in a loop, each batch journaled before Telegram is
told it arrived.

Hand-written rather than PTB's Updater, which confirms a batch (the next getUpdates' offset) as soon as it has
queued it: an update still being handled when the process dies, say a successful payment, would then be gone
for good, since Telegram never sends a confirmed update again and a payment cannot be looked up later. Here the
next offset is sent only once the batch is in the inbox; a worker that dies after that finds it there again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from telegram import Bot, Update
from telegram.error import InvalidToken, RetryAfter, TelegramError

from bot.update_journal import UpdateJournal

log = logging.getLogger(__name__)
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0


class JournaledPolling:
    def __init__(self, bot: Bot, journal: UpdateJournal, *, timeout: int, allowed_updates: Sequence[str]) -> None:
        self.bot = bot
        self.journal = journal
        self.timeout = timeout
        self.allowed_updates = list(allowed_updates)
        self._task: asyncio.Task[None] | None = None
        self._fetch: asyncio.Future[tuple[Update, ...]] | None = None
        self._stopping = False

    async def start(self) -> None:
        # A webhook left from an earlier run would make every getUpdates fail. Pending updates are kept: among
        # them may be payments.
        await self.bot.delete_webhook(drop_pending_updates=False)
        self._stopping = False
        self._task = asyncio.create_task(self._poll(), name="daifu polling")

    async def stop(self) -> None:
        """Stop asking for updates. Only the long poll is broken off: a batch being written to the inbox is
        written first, and one Telegram was sending is not confirmed, so it comes again next start."""
        if self._task is None:
            return
        self._stopping = True
        if self._fetch is not None:
            self._fetch.cancel()
        await self._task
        self._task = None

    async def _poll(self) -> None:
        offset = 0  # 0: whatever Telegram has not had confirmed, from before a restart too
        backoff = FIRST_BACKOFF_SECONDS
        while not self._stopping:
            self._fetch = asyncio.ensure_future(
                self.bot.get_updates(offset=offset, timeout=self.timeout, allowed_updates=self.allowed_updates)
            )
            try:
                updates = await self._fetch
                if updates:
                    await self.journal.take_all(updates)
                    offset = updates[-1].update_id + 1
                backoff = FIRST_BACKOFF_SECONDS
            except asyncio.CancelledError:
                if self._stopping and not current_task_cancelled():
                    return  # stop() broke off the long poll
                raise
            except InvalidToken:
                log.critical("Telegram refuses the bot token: polling stops")
                raise
            except Exception as error:
                if self._stopping:
                    return  # the long poll broken off by stop() may surface as a network error
                # Telegram unreachable, or the inbox could not be written: the batch is not confirmed and comes
                # again; what of it was written already is dropped then as a repeat, having been queued.
                wait = backoff
                if isinstance(error, RetryAfter):
                    after = error.retry_after
                    wait = after if isinstance(after, int) else after.total_seconds()
                elif isinstance(error, TelegramError):
                    log.warning("getUpdates failed (%s); trying again in %.0f s", error, backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                else:
                    log.exception("could not take a batch of updates; trying again in %.0f s", backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                await asyncio.sleep(wait)
            finally:
                self._fetch = None


def current_task_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
