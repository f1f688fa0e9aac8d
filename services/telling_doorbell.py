"""The doorbell of the tellings outbox: wakes this worker's teller right after a commit that recorded something
to tell, and hands it the rows (held by this worker from the start)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from services.telling_rows import Claimed


@dataclass(frozen=True, slots=True)
class Batch:
    """The rows one commit recorded, handed to the teller; told, once it is done (when someone waits for it)."""

    rows: list[Claimed]
    told: asyncio.Future[None] | None = None

    def done(self) -> None:
        if self.told is not None and not self.told.done():
            self.told.set_result(None)


class _Held:
    """What a unit of work (an update, a job step) recorded: handed to the teller when it ends, in one batch (told
    in the order it was recorded)."""

    def __init__(self) -> None:
        self.rows: dict[Doorbell, list[Claimed]] = {}
        self.open = True  # a task the unit started may outlive it: what it records later is handed at once


_HELD: ContextVar[_Held | None] = ContextVar("daifu_tellings_held", default=None)


class Doorbell:
    """Wakes this worker's teller right after a commit that recorded something to tell: the teller awaits it
    (next_batch) and is handed the rows.

    Rung only after the commit (storage.database.after_commit), so the teller never reads a change not yet
    visible. With no teller awaiting it (a process that only records), the rows wait for their lease to run out.
    """

    def __init__(self) -> None:
        self._batches: deque[Batch] = deque()
        self._rung = asyncio.Event()
        self._answered = False  # a teller is taking what is rung

    def ring(self, rows: list[Claimed]) -> None:
        held = _HELD.get()
        if held is not None and held.open:
            held.rows.setdefault(self, []).extend(rows)
        else:
            self.hand(Batch(rows))

    def hand(self, batch: Batch) -> None:
        if not self._answered:
            batch.done()  # nobody tells it here: another worker will, once its lease has run out
            return
        self._batches.append(batch)
        self._rung.set()

    @property
    def waiting(self) -> int:
        """Batches rung and not taken by the teller yet."""
        return len(self._batches)

    async def next_batch(self) -> Batch:
        """The next rows to tell, as soon as a commit recorded them (for the teller)."""
        self._answered = True
        while not self._batches:
            self._rung.clear()
            await self._rung.wait()
        return self._batches.popleft()

    def close(self) -> list[Batch]:
        """No teller takes what is rung from now on; the batches rung and not taken yet are handed back."""
        self._answered = False
        left = list(self._batches)
        self._batches.clear()
        return left


@asynccontextmanager
async def tell_at_the_end() -> AsyncIterator[None]:
    """What the code inside records is handed to the teller when the block ends (even if it raised: what it
    committed stands), and the block waits until it is told. So a person hears the answer to what they did first,
    then what it changed, and their next update is answered after both (bot.update_order, the housekeeping job)."""
    held = _Held()
    token = _HELD.set(held)
    try:
        yield
    finally:
        _HELD.reset(token)
        held.open = False
        told: list[asyncio.Future[None]] = []
        for doorbell, rows in held.rows.items():
            told.append(asyncio.get_running_loop().create_future())
            doorbell.hand(Batch(rows, told[-1]))
        if told:
            await asyncio.gather(*told)
