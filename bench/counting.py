"""Counting every update the emulator queues for the bot, so a run's updates are counted, not assumed."""

from __future__ import annotations

from collections import Counter
from typing import Any

from emulator import BotApiEmulator
from emulator.updates import UpdateQueue


class CountingQueue(UpdateQueue):
    """The emulator's update queue, counting what is pushed into it, by kind of update."""

    def __init__(self) -> None:
        super().__init__()
        self.pushed: Counter[str] = Counter()

    def push(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.pushed[kind] += 1
        return super().push(kind, payload)


def counting_queue(emu: BotApiEmulator) -> CountingQueue:
    """The emulator's queue, made a counting one if it is not yet (call before any update is queued)."""
    queue = emu.world.updates
    if isinstance(queue, CountingQueue):
        return queue
    if queue.pending_count:
        raise RuntimeError("install the counting queue before any update is queued")
    emu.world.updates = CountingQueue()
    return emu.world.updates


class UpdateCount:
    """Started right before a run; read right after it: the updates queued for the bot meanwhile, by kind."""

    def __init__(self, queue: CountingQueue) -> None:
        self._queue = queue
        self._before = queue.pushed.copy()

    def read(self) -> Counter[str]:
        return self._queue.pushed - self._before
