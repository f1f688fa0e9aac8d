"""Load shapes: a closed loop (N people, each acting as soon as the bot answered) and an open loop
(actions started at a fixed rate whatever the bot does, as real traffic arrives).

Each action borrows a person from a pool, so two actions never share a chat at the same time and
every reply can be matched strictly to the action that caused it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
P = TypeVar("P")  # who acts: a person, or (pay for me) a shopper with the friend they ask
# People per person acting at once: an open loop needs someone free whenever an action is due, even when a
# few earlier ones are still waiting for the bot.
SPARE_PEOPLE = 2


def people_for(concurrency: int) -> int:
    return SPARE_PEOPLE * concurrency


class PeoplePool(Generic[P]):
    def __init__(self, people: Sequence[P]) -> None:
        self._idle: asyncio.Queue[P] = asyncio.Queue()
        for person in people:
            self._idle.put_nowait(person)

    @asynccontextmanager
    async def borrow(self) -> AsyncIterator[P]:
        person = await self._idle.get()
        try:
            yield person
        finally:
            self._idle.put_nowait(person)


async def closed_loop(
    concurrency: int, jobs: Sequence[T], pool: PeoplePool[P], act: Callable[[P, T], Awaitable[R]]
) -> list[R]:
    """Run act over jobs with `concurrency` people, each starting the next job as soon as theirs is done."""
    pending = iter(jobs)
    results: list[R] = []

    async def person_at_work() -> None:
        for job in pending:  # one shared iterator: whoever is free takes the next job
            async with pool.borrow() as person:
                results.append(await act(person, job))

    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(person_at_work())
    return results


async def open_loop(
    per_second: float, jobs: Sequence[T], pool: PeoplePool[P], act: Callable[[P, T], Awaitable[R]]
) -> tuple[list[R], float]:
    """Start one job every 1/per_second seconds, evenly spaced, without waiting for earlier ones.

    Returns the results and the rate at which jobs really started (lower than asked only if the
    pool ran out of idle people, that is if the bot fell far behind).
    """
    interval = 1.0 / per_second
    results: list[R] = []
    started: list[float] = []

    async def one(job: T) -> None:
        async with pool.borrow() as person:
            started.append(time.perf_counter())
            results.append(await act(person, job))

    loop = asyncio.get_running_loop()
    begin = loop.time()
    async with asyncio.TaskGroup() as group:
        for index, job in enumerate(jobs):
            delay = begin + index * interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            group.create_task(one(job))
    span = max(started) - min(started) if len(started) > 1 else 0.0
    achieved = (len(started) - 1) / span if span > 0 else per_second
    return results, achieved
