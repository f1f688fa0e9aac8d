"""Polling mode (the default for one process): getUpdates in a loop, each batch journaled before Telegram is
told it arrived.

Hand-written rather than PTB's Updater, which confirms a batch (the next getUpdates' offset) as soon as it has
queued it: an update still being handled when the process dies, say a successful payment, would then be gone
for good, since Telegram never sends a confirmed update again and a payment cannot be looked up later. Here the
next offset is sent only once the batch is in the inbox; a worker that dies after that finds it there again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from telegram import Bot
from telegram.error import InvalidToken, RetryAfter, TelegramError
from telegram.request import BaseRequest

from bot.bot_api_transport import AiohttpBotRequest
from bot.update_journal import UpdateJournal, update_id_of

log = logging.getLogger(__name__)
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
READ_MARGIN_SECONDS = 5.0  # how much longer than the long poll itself an answer may take to arrive
# A server that answers an empty long poll at once (one that ignores `timeout`) is asked again no sooner than this.
EMPTY_POLL_SECONDS = 1.0


class BrokenAnswer(TelegramError):
    """getUpdates answered with something that is not a list of updates."""


class JournaledPolling:
    """Fetches each batch raw and lets the journal parse its updates one by one.

    PTB's get_updates parses the batch as a whole: one update it cannot read (a message without a date, a date in
    milliseconds) fails all of it, the updates beside it are never handled, and since the offset cannot move past
    it, the same batch is fetched again and again. So the batch is fetched as JSON (through a Bot API transport
    of its own: the long poll holds its connection for seconds), and a poison update costs only itself.
    """

    def __init__(
        self,
        bot: Bot,
        journal: UpdateJournal,
        *,
        timeout: int,
        allowed_updates: Sequence[str],
        request: BaseRequest | None = None,
    ) -> None:
        self.bot = bot
        self.journal = journal
        self.timeout = timeout
        self.allowed_updates = list(allowed_updates)
        self.request = request or AiohttpBotRequest(connection_pool_size=1)
        self._task: asyncio.Task[None] | None = None
        self._waiting: asyncio.Future[Any] | None = None  # the long poll, or a pause before the next one
        self._stopping = False

    async def start(self) -> None:
        # A webhook left from an earlier run would make every getUpdates fail. Pending updates are kept: among
        # them may be payments.
        await self.bot.delete_webhook(drop_pending_updates=False)
        await self.request.initialize()
        self._stopping = False
        self._task = asyncio.create_task(self._poll(), name="daifu polling")

    async def stop(self) -> None:
        """Stop asking for updates. Only the long poll (or a pause) is broken off: a batch being written to the
        inbox is written first, and one Telegram was sending is not confirmed, so it comes again next start."""
        if self._task is None:
            return
        self._stopping = True
        if self._waiting is not None:
            self._waiting.cancel()
        await self._task
        self._task = None
        await self.request.shutdown()

    async def fetch(self, offset: int) -> list[Any]:
        """One getUpdates, its answer as Telegram sent it (errors raised as PTB's TelegramError kinds)."""
        query = urlencode(
            {"offset": offset, "timeout": self.timeout, "allowed_updates": json.dumps(self.allowed_updates)}
        )
        answer = await self.request.post(
            f"{self.bot.base_url}/getUpdates?{query}", read_timeout=self.timeout + READ_MARGIN_SECONDS
        )
        if not isinstance(answer, list):
            raise BrokenAnswer(f"getUpdates answered {type(answer).__name__}, not a list of updates")
        return answer

    async def _poll(self) -> None:
        offset = 0  # 0: whatever Telegram has not had confirmed, from before a restart too
        backoff = FIRST_BACKOFF_SECONDS
        loop = asyncio.get_running_loop()
        while not self._stopping:
            asked = loop.time()
            try:
                batch = await self._wait_for(self.fetch(offset))
                updates = [item for item in batch if update_id_of(item) is not None]
                if len(updates) < len(batch):
                    # Not an update at all: nothing to keep, nor to confirm; the ids beside it move the offset on.
                    log.error("getUpdates answered %d items that are not updates", len(batch) - len(updates))
                if updates:
                    await self.journal.take_all(updates)
                    offset = max(int(update["update_id"]) for update in updates) + 1
                elif batch:
                    raise BrokenAnswer("getUpdates answered no usable update")
                backoff = FIRST_BACKOFF_SECONDS
                if not batch and loop.time() - asked < EMPTY_POLL_SECONDS:
                    await self._wait_for(asyncio.sleep(EMPTY_POLL_SECONDS))
            except asyncio.CancelledError:
                if self._stopping and not current_task_cancelled():
                    return  # stop() broke off the long poll or a pause
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
                try:
                    await self._wait_for(asyncio.sleep(wait))
                except asyncio.CancelledError:
                    if self._stopping and not current_task_cancelled():
                        return
                    raise

    async def _wait_for(self, step: Any) -> Any:
        """Await a step stop() may break off (the long poll, a pause); a batch being written is never one."""
        self._waiting = asyncio.ensure_future(step)
        try:
            return await self._waiting
        finally:
            self._waiting = None


def current_task_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
