"""Marking finished work done in batches: one UPDATE for all that finished within a fifth of a second (the
updates of the inbox, services.update_inbox; the tellings, services.telling_delivery).

A transaction a mark was a large share of the bot's CPU in the benchmark. A crash can lose the marks of at most
that last fifth of a second: that work is then taken up again as after a crash in the middle of it (the inbox's
recovery job; a telling's lease running out).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

log = logging.getLogger(__name__)
DONE_BATCH_SECONDS = 0.2


class Marking(Protocol):
    """Where the marks are written."""

    async def done(self, *ids: int) -> None: ...

    def let_go(self, key: int, /) -> None:
        """The work is finished here and marked done (or its mark failed): no longer held by this worker."""


class DoneMarks:
    def __init__(self, marking: Marking, every: float = DONE_BATCH_SECONDS) -> None:
        self.marking = marking
        self.every = every
        self._finished: set[int] = set()
        self._flushing: asyncio.Task[None] | None = None
        self._waiting_to_flush = False

    def add(self, key: int) -> None:
        self._finished.add(key)
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        # Work finished while a batch was being written found this task still running and started none of its
        # own: it goes in the next round, or it would wait for the next to finish, or for a recovery.
        while True:
            self._waiting_to_flush = True
            try:
                await asyncio.sleep(self.every)
            finally:
                self._waiting_to_flush = False
            await self.flush()
            if not self._finished:
                return

    async def flush(self) -> None:
        """Mark done now what finished and is not marked yet."""
        finished, self._finished = self._finished, set()
        if not finished:
            return
        try:
            await self.marking.done(*sorted(finished))
        except Exception:  # not marked: taken up again, as after a crash
            log.exception("could not mark %d done (%s)", len(finished), type(self.marking).__name__)
        for key in finished:  # held (and renewed) until marked: no recovery takes up work finished
            self.marking.let_go(key)

    async def close(self) -> None:
        """Write the marks still waiting (a stopping worker). Only the wait before a flush is cut short. A flush
        already writing is let finish: broken off, its statement would go on in the driver with no one left to
        take the answer (and the marks be lost)."""
        flushing = self._flushing
        if flushing is not None and not flushing.done():
            if self._waiting_to_flush:
                flushing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flushing
        await self.flush()
