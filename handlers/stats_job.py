"""The periodic job that rolls complete 10-minute slices up for /stats (services.stats_rollup does the work).

Its own job rather than a step of housekeeping: catching up on a month after a fresh start must not hold up
expiries. A backlog is worked through a day's slices a run, each run followed a moment later by the next
until none is left, so the bot's other work goes on in between.
"""

from __future__ import annotations

from typing import cast

from telegram.ext import JobQueue

from handlers.context import DaifuContext
from services.stats_rollup import StatsRollup

INTERVAL_SECONDS = 60  # a slice is rolled within a minute of becoming due (SETTLE after its end)
FIRST_SECONDS = 30  # after a start's own urgent work: expiries, reconciliation, undelivered callbacks
CATCH_UP_SECONDS = 2
CATCH_UP = "roll_stats_backlog"


async def roll_stats(context: DaifuContext) -> None:
    run = await StatsRollup(context.daifu.db).run()
    jobs = cast("JobQueue[DaifuContext] | None", context.job_queue)
    if run.left and jobs is not None and not jobs.get_jobs_by_name(CATCH_UP):
        jobs.run_once(roll_stats, when=CATCH_UP_SECONDS, name=CATCH_UP)


def schedule(job_queue: JobQueue[DaifuContext]) -> None:
    job_queue.run_repeating(roll_stats, interval=INTERVAL_SECONDS, first=FIRST_SECONDS)
