"""The periodic job that prunes finished Telegram updates, messages told and rejected provider notices
(services.retention).

Its own job rather than a step of housekeeping: a first run on a long backlog must not hold up expiries. A
backlog is pruned a capped number of batches a run, each run followed a moment later by the next until none
is left; the database lets one worker at a time prune.
"""

from __future__ import annotations

from typing import cast

from telegram.ext import JobQueue

from handlers.context import DaifuContext
from services.retention import Retention, RetentionPolicy

INTERVAL_SECONDS = 600  # what ages past its retention is pruned within ten minutes; nothing is urgent about it
FIRST_SECONDS = 60  # after a start's own urgent work
CATCH_UP_SECONDS = 5
CATCH_UP = "prune_backlog"


async def prune(context: DaifuContext) -> None:
    jobs = cast("JobQueue[DaifuContext] | None", context.job_queue)
    job = context.job
    assert job is not None and isinstance(job.data, RetentionPolicy)
    run = await Retention(context.daifu.db, job.data).run()
    if run.left and jobs is not None and not jobs.get_jobs_by_name(CATCH_UP):
        jobs.run_once(prune, when=CATCH_UP_SECONDS, name=CATCH_UP, data=job.data)


def schedule(job_queue: JobQueue[DaifuContext], policy: RetentionPolicy) -> None:
    job_queue.run_repeating(prune, interval=INTERVAL_SECONDS, first=FIRST_SECONDS, data=policy)
