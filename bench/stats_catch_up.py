"""What a running bot would have done before anyone asks for /stats: roll up the filled month, slice by slice.

The bot's job (handlers.stats_job) does it in runs of services.stats_rollup.BATCH 10-minute slices a couple of
seconds apart; here the runs follow each other at once, and each is timed: the longest is how long one run of
the job takes, the sum how long a fresh start takes to catch up on 30 days.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from services.stats_rollup import StatsRollup
from storage.database import Database


@dataclass(frozen=True)
class CatchUpFigures:
    slices: int  # 10-minute slices counted from the base tables (those before the first order are not)
    runs: int
    seconds: float
    longest_run_seconds: float


async def catch_up(url: str, progress: Callable[[str], None]) -> CatchUpFigures:
    db = Database(url)
    rollup = StatsRollup(db)
    slices = runs = 0
    longest = 0.0
    began = time.perf_counter()
    try:
        while True:
            run_began = time.perf_counter()
            run = await rollup.run()
            longest = max(longest, time.perf_counter() - run_began)
            slices, runs = slices + run.rolled, runs + 1
            if runs % 10 == 0:
                progress(f"rolled up {slices} slices, {run.left} left")
            if not run.left:
                break
    finally:
        await db.dispose()
    return CatchUpFigures(slices, runs, time.perf_counter() - began, longest)
