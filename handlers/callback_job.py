"""The periodic job that POSTs due callbacks to shops (services.callback_delivery does the work).

Its own job rather than a step of housekeeping: a slow shop must not hold up expiries, and a failing
expiry must not hold up callbacks.
"""

from __future__ import annotations

from telegram.ext import JobQueue

from handlers.context import DaifuContext
from services.callback_delivery import deliver_due

INTERVAL_SECONDS = 30  # the first retry waits 30 s; checking more often would find nothing due


async def deliver_callbacks(context: DaifuContext) -> None:
    await deliver_due(context.daifu.db, private_allowed=context.daifu.rules.callback_private_allowed)


def schedule(job_queue: JobQueue[DaifuContext]) -> None:
    job_queue.run_repeating(deliver_callbacks, interval=INTERVAL_SECONDS, first=3)
