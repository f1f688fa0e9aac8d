"""The teller: sends what the outbox (services.telling) says people must be told, and marks it done.

It awaits the doorbell of this worker's outbox, which hands it the rows a commit recorded (held by this worker
from the start) right after the commit: each batch is told in a task of its own, its rows in the order they were
recorded. What an update or a job step records is handed over once its handlers are done, and they wait for it
(services.telling_delivery.tell_at_the_end). The housekeeping job sweeps for rows whose lease ran out (`sweep`): a
worker died holding them, or a try failed a while ago.

A row is told alone: one that cannot be sent (a person who blocked the bot) is done all the same, and one whose
telling raised is tried again later, then parked; neither keeps the others untold. Sending holds no transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from telegram.ext import Application

from handlers.context import DaifuContext
from handlers.notices import say
from handlers.request_cards import refresh_cards
from handlers.tidying import tidy
from services.read_models import utcnow
from services.telling_delivery import CLAIM_BATCH, LEASE, Batch
from services.telling_rows import CLOSED, Claimed, Kind

log = logging.getLogger(__name__)
IN_FLIGHT = 32  # batches told at once: as many as updates handled at once (bot.update_order)
STOP_WAIT_SECONDS = 10.0  # how long a stopping worker waits for the batches it holds before letting go of them


async def tell(context: DaifuContext, rows: Sequence[Claimed]) -> None:
    """Tell the rows (held by this worker), in order; they are marked done together (TellingLeases.told)."""
    tellings = context.daifu.tellings
    rows = list(rows)
    subjects = await tellings.subjects.read(rows)
    leases = tellings.leases
    done: list[int] = []
    drawn: set[int] = set()
    index = 0
    while index < len(rows):
        row = rows[index]
        if row.claimed_until - utcnow() < LEASE / 2:
            # A long batch (a backlog, flood waits): the lease on what is left is renewed; rows this worker no
            # longer holds (it ran out, another worker may have them) are left out.
            rows[index:] = await leases.keep(rows[index:])
            continue
        index += 1
        try:
            if row.kind == Kind.CARD:
                # Redraws of one request pending together are one drawing, of its cards as they are now.
                if row.request_id is not None and row.request_id not in drawn:
                    drawn.add(row.request_id)
                    cards = [other for other in rows if other.kind == Kind.CARD and other.request_id == row.request_id]
                    closed = any(card.reason == CLOSED for card in cards)
                    written = next((card.written for card in cards if card.written is not None), None)
                    await refresh_cards(context, row.request_id, closed=closed, written=written)
                why = None
            elif row.kind == Kind.TIDY:
                await tidy(context, row)
                why = None
            else:
                why = await say(context, row, subjects)
        except Exception as error:
            log.exception("could not tell %s telling %s", row.kind.value, row.id)
            await leases.failed(row, error)
            continue
        done.append(row.id)
        if why is not None:
            await leases.gave_up(row.id, why)
    leases.told(done)


async def sweep(context: DaifuContext) -> None:
    """Tell the rows whose lease ran out (a worker died holding them, or a try failed a while ago)."""
    leases = context.daifu.tellings.leases
    await leases.flush_told()  # what this worker told is not taken for left over
    while rows := await leases.claim_due():
        await tell(context, rows)
        if len(rows) < CLAIM_BATCH:
            break
    await leases.flush_told()


class Teller:
    """Takes what the doorbell hands over while the application runs (bot.runtime starts and stops it)."""

    def __init__(self, application: Application[Any, DaifuContext, Any, Any, Any, Any]) -> None:
        self.context = DaifuContext(application)
        self.doorbell = self.context.daifu.tellings.doorbell
        self._slots = asyncio.Semaphore(IN_FLIGHT)
        self._answering: asyncio.Task[None] | None = None
        self._batches: dict[asyncio.Task[None], Batch] = {}
        self._begun: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._answering = asyncio.get_running_loop().create_task(self._answer())

    async def _answer(self) -> None:
        while True:
            batch = await self.doorbell.next_batch()
            task = asyncio.get_running_loop().create_task(self._tell(batch))
            self._batches[task] = batch
            task.add_done_callback(self._forget)

    async def settle(self, timeout: float | None = None) -> None:
        """Until what was rung is told (the batches in hand, and those rung and not taken yet), or timeout seconds
        have passed."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        answering = self._answering is not None and not self._answering.done()
        while self._batches or (answering and self.doorbell.waiting):
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                return
            if self._batches:
                await asyncio.wait(list(self._batches), timeout=left)
            else:
                await asyncio.sleep(0)  # rung: taken on the next turn of the loop

    async def stop(self) -> None:
        """Stop taking what is rung; wait a while for the batches in hand; let go of those not begun, for any
        worker to tell."""
        if self._answering is not None:
            self._answering.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._answering
        unbegun = self.doorbell.close()
        await self.settle(STOP_WAIT_SECONDS)
        left = [(task, batch) for task, batch in self._batches.items() if not task.done()]
        for task, _batch in left:
            task.cancel()
        for task, _batch in left:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        unbegun += [batch for task, batch in left if task not in self._begun]
        for batch in unbegun:
            batch.done()
        leases = self.context.daifu.tellings.leases
        await leases.release([row.id for batch in unbegun for row in batch.rows])
        await leases.close()

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._batches.pop(task, None)
        self._begun.discard(task)

    async def _tell(self, batch: Batch) -> None:
        try:
            async with self._slots:
                task = asyncio.current_task()
                if task is not None:
                    self._begun.add(task)
                await tell(self.context, batch.rows)
        except Exception:  # the rows wait for their lease to run out, then a sweep tells them
            log.exception("telling %d rows failed", len(batch.rows))
        finally:
            batch.done()
