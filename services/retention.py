"""Pruning what is kept only for a while: finished Telegram updates, messages told (rows of the outbox done), the
short records of rejected provider notices, and messages remembered to be tidied that never were. In batches, one
worker at a time; never an unfinished update nor a message not told yet, never a verified notice (money records)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from services.update_inbox import forget_finished
from storage.database import Database
from storage.models import LiveMessage, RejectedNotice, Telling, utcnow
from storage.queries.retention import delete_oldest, release_job_lease, take_job_lease

log = logging.getLogger(__name__)
BATCH = 1000  # rows a statement: short transactions, so nothing else waits long on the tables
MAX_BATCHES = 50  # a table, a run: a backlog (a first run on a year of rows) is worked through run after run
LEASE_NAME = "retention"
# Longer than a run can take; a worker that dies mid-run holds the lease no longer than this.
LEASE = timedelta(minutes=10)
# A message remembered to be tidied is forgotten when it is; one left this long belongs to an order that ended
# long ago (its tidying parked, or a worker's lost): no one looks at it any more.
LIVE_MESSAGES_KEPT = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    updates: timedelta  # finished Telegram updates, and messages told with them (RETAIN_UPDATES)
    rejected_notices: timedelta  # short records of notices that failed verification (RETAIN_REJECTED_NOTICES)


@dataclass(frozen=True, slots=True)
class Pruned:
    updates: int
    rejected_notices: int
    left: bool  # a batch cap was reached: more to prune soon
    ran: bool = True  # False when another worker held the lease
    told: int = 0  # rows of the outbox told


class Retention:
    def __init__(self, db: Database, policy: RetentionPolicy) -> None:
        self.db = db
        self.policy = policy

    async def run(self) -> Pruned:
        if not await self._take_lease():
            return Pruned(0, 0, left=False, ran=False)
        try:
            updates, updates_left = await self._in_batches(self._forget_updates)
            told, told_left = await self._in_batches(self._forget_told)
            rejected, rejected_left = await self._in_batches(self._forget_rejected_notices)
            _live, live_left = await self._in_batches(self._forget_live_messages)
        finally:
            await self._release_lease()
        if updates or told or rejected:
            log.info("pruned %d finished updates, %d messages told, %d rejected notices", updates, told, rejected)
        return Pruned(updates, rejected, left=updates_left or told_left or rejected_left or live_left, told=told)

    @staticmethod
    async def _in_batches(prune: Callable[[], Awaitable[int]]) -> tuple[int, bool]:
        total = 0
        for _batch in range(MAX_BATCHES):
            count = await prune()
            total += count
            if count < BATCH:
                return total, False
        return total, True

    async def _forget_updates(self) -> int:
        return await forget_finished(self.db, self.policy.updates, limit=BATCH)

    async def _forget_told(self) -> int:
        async with self.db.transaction() as session:
            before = utcnow() - self.policy.updates
            return await delete_oldest(session, model=Telling, stamped=Telling.done_at, before=before, limit=BATCH)

    async def _forget_rejected_notices(self) -> int:
        async with self.db.transaction() as session:
            before = utcnow() - self.policy.rejected_notices
            stamped = RejectedNotice.received_at
            return await delete_oldest(session, model=RejectedNotice, stamped=stamped, before=before, limit=BATCH)

    async def _forget_live_messages(self) -> int:
        async with self.db.transaction() as session:
            before = utcnow() - LIVE_MESSAGES_KEPT
            stamped = LiveMessage.created_at
            return await delete_oldest(session, model=LiveMessage, stamped=stamped, before=before, limit=BATCH)

    async def _take_lease(self) -> bool:
        now = utcnow()
        async with self.db.transaction() as session:
            return await take_job_lease(session, name=LEASE_NAME, now=now, until=now + LEASE)

    async def _release_lease(self) -> None:
        async with self.db.transaction() as session:
            await release_job_lease(session, name=LEASE_NAME)
