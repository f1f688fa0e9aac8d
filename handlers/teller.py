"""The teller: sends what the outbox (services.telling) says people must be told, and marks it done.

It is woken by the doorbell right after a commit that recorded something, and handed those rows (held by this
worker from the start): each batch is told in a task of its own, its rows in the order they were recorded. What
an update or a job step records is told once its handlers are done (`waited`), and it waits for it: so the
person hears the answer to what they did first, then what it changed, and their next update is answered after
both, as when the handlers told it themselves. The housekeeping job sweeps for rows whose lease ran out
(`sweep`): a worker died holding them, or a try failed a while ago.

A row is told alone: one that cannot be sent (a person who blocked the bot) is done all the same, and one whose
telling raised is tried again later, then parked; neither keeps the others untold. Sending holds no transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from telegram.ext import Application

from handlers.context import DaifuContext
from handlers.notices import say
from handlers.request_cards import refresh_cards
from services.telling import CLAIM_BATCH, CLOSED, LEASE, Claimed, Kind
from storage.models import utcnow

log = logging.getLogger(__name__)
IN_FLIGHT = 32  # batches told at once: as many as updates handled at once (bot.update_order)
STOP_WAIT_SECONDS = 10.0  # how long a stopping worker waits for the batches it holds before letting go of them


class _Deferred:
    """The batches rung while an update or a job step runs: told when it is done."""

    def __init__(self) -> None:
        self.batches: list[Callable[[], Awaitable[None]]] = []
        self.open = True  # a task the block started may outlive it: what it rings later is told at once


_DEFERRED: ContextVar[_Deferred | None] = ContextVar("daifu_tellings_deferred", default=None)


@asynccontextmanager
async def waited() -> AsyncIterator[None]:
    """What the code inside records is told when the block ends (by the teller), and the block waits for it; even
    if the code raised: what it committed before stands."""
    deferred = _Deferred()
    token = _DEFERRED.set(deferred)
    try:
        yield
    finally:
        _DEFERRED.reset(token)
        deferred.open = False
        for batch in deferred.batches:
            await batch()


async def tell(context: DaifuContext, rows: Sequence[Claimed]) -> None:
    """Tell the rows (held by this worker), in order; they are marked done together (Tellings.told)."""
    tellings = context.daifu.tellings
    rows = list(rows)
    subjects = await tellings.subjects(rows)
    done: list[int] = []
    drawn: set[int] = set()
    index = 0
    while index < len(rows):
        row = rows[index]
        if row.claimed_until - utcnow() < LEASE / 2:
            # A long batch (a backlog, flood waits): the lease on what is left is renewed; rows this worker no
            # longer holds (it ran out, another worker may have them) are left out.
            rows[index:] = await tellings.keep(rows[index:])
            continue
        index += 1
        try:
            if row.kind == Kind.CARD:
                # Redraws of one request pending together are one drawing, of its cards as they are now.
                if row.request_id is not None and row.request_id not in drawn:
                    drawn.add(row.request_id)
                    cards = [other for other in rows if other.kind == Kind.CARD and other.request_id == row.request_id]
                    await refresh_cards(context, row.request_id, closed=any(card.reason == CLOSED for card in cards))
                why = None
            else:
                why = await say(context, row, subjects)
        except Exception as error:
            log.exception("could not tell %s telling %s", row.kind.value, row.id)
            await tellings.failed(row, error)
            continue
        done.append(row.id)
        if why is not None:
            await tellings.gave_up(row.id, why)
    tellings.told(done)


async def sweep(context: DaifuContext) -> None:
    """Tell the rows whose lease ran out (a worker died holding them, or a try failed a while ago)."""
    tellings = context.daifu.tellings
    await tellings.flush_told()  # what this worker told is not taken for left over
    while rows := await tellings.claim_due():
        await tell(context, rows)
        if len(rows) < CLAIM_BATCH:
            break
    await tellings.flush_told()


class Teller:
    """Listens at the doorbell of this worker's outbox while the application runs (bot.runtime starts and stops it)."""

    def __init__(self, application: Application[Any, DaifuContext, Any, Any, Any, Any]) -> None:
        self.context = DaifuContext(application)
        self._slots = asyncio.Semaphore(IN_FLIGHT)
        self._batches: dict[asyncio.Task[None], Sequence[Claimed]] = {}
        self._begun: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self.context.daifu.tellings.doorbell.listen(self._rung)

    async def settle(self, timeout: float | None = None) -> None:
        """Until the batches in hand (rung outside an update or a job) are told, or timeout seconds have passed."""
        if self._batches:
            await asyncio.wait(list(self._batches), timeout=timeout)

    async def stop(self) -> None:
        """Stop listening; wait a while for the batches in hand; let go of those not begun, for any worker."""
        self.context.daifu.tellings.doorbell.listen(None)
        await self.settle(STOP_WAIT_SECONDS)
        left = [(task, rows) for task, rows in self._batches.items() if not task.done()]
        for task, _rows in left:
            task.cancel()
        for task, _rows in left:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        unbegun = [row.id for task, rows in left if task not in self._begun for row in rows]
        await self.context.daifu.tellings.release(unbegun)
        await self.context.daifu.tellings.close()

    def _rung(self, rows: list[Claimed]) -> None:
        deferred = _DEFERRED.get()
        if deferred is not None and deferred.open:
            deferred.batches.append(lambda: self._tell(rows))
            return
        task = asyncio.get_running_loop().create_task(self._tell(rows))
        self._batches[task] = rows
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._batches.pop(task, None)
        self._begun.discard(task)

    async def _tell(self, rows: list[Claimed]) -> None:
        async with self._slots:
            task = asyncio.current_task()
            if task in self._batches:  # else an update's or a job's own task, told in its time
                self._begun.add(task)
            try:
                await tell(self.context, rows)
            except Exception:  # the rows wait for their lease to run out, then a sweep tells them
                log.exception("telling %d rows failed", len(rows))
