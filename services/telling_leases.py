"""The teller's hold on the rows of the tellings outbox: claiming those whose lease ran out, renewing, letting
go, counting failed tries (parked after PARK_AFTER_ATTEMPTS), and marking them done.

A row is sent by one worker at a time, then marked done: told at least once, and twice only if a worker dies
between sending and marking (or its mark is lost: services.done_marks).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from services.done_marks import DoneMarks
from services.metrics import PARKED
from services.parking import PARK_AFTER_ATTEMPTS, error_text
from services.telling_rows import FIELDS, Claimed, Kind
from storage.database import Database
from storage.models import Telling, utcnow
from storage.queries.done_marks import mark_done
from storage.queries.tellings import claim_due, count_failure, keep_leases, note_given_up, release_tellings

log = logging.getLogger(__name__)
# Long enough for a row's messages under Telegram's flood limits (the teller renews it when half is gone); a
# row whose worker died waits this long, and then the housekeeping job's next round, before it is told.
LEASE = timedelta(minutes=2)
RETRY_AFTER = timedelta(minutes=1)  # after a try that failed (not a person who blocked the bot: that is done)
# A message a day late would confuse more than it tells: a row not told by then is left, not sent.
GIVE_UP_AFTER = timedelta(days=1)
CLAIM_BATCH = 100


class TellingLeases:
    """The rows this worker holds, from their claim until they are done."""

    def __init__(self, db: Database) -> None:
        self.db = db
        # Rows told within a fifth of a second of each other are marked done by one UPDATE.
        self._marks = DoneMarks(self)

    async def claim_due(self, limit: int = CLAIM_BATCH) -> list[Claimed]:
        """Rows whose lease ran out (their worker died, or a try failed a while ago), claimed for this worker."""
        now = utcnow()
        async with self.db.transaction() as session:
            found = await claim_due(
                session,
                now=now,
                made_after=now - GIVE_UP_AFTER,
                below_tries=PARK_AFTER_ATTEMPTS,
                limit=limit,
                until=now + LEASE,
            )
        return sorted((_claimed(values) for values in found), key=lambda row: row.id)

    async def keep(self, rows: Sequence[Claimed]) -> list[Claimed]:
        """Renew this worker's lease on rows it holds; those it no longer holds (it ran out, and another worker may
        have them) are left out. One statement for each time the rows were held until (one, or a few)."""
        until = utcnow() + LEASE
        kept: set[int] = set()
        for mine in sorted({row.claimed_until for row in rows}):
            ids = [row.id for row in rows if row.claimed_until == mine]
            async with self.db.alone() as connection:
                kept |= await keep_leases(connection, ids=ids, mine=mine, until=until)
        return [replace(row, claimed_until=until) for row in rows if row.id in kept]

    def told(self, ids: Iterable[int]) -> None:
        """Told (or given up on for good: a person who blocked the bot): never sent again. Marked done with the
        others told within a fifth of a second (flush_told writes them at once)."""
        for row_id in ids:
            self._marks.add(row_id)

    async def flush_told(self) -> None:
        """Mark done now the rows told and not marked yet."""
        await self._marks.flush()

    async def close(self) -> None:
        """Write the marks still waiting (a stopping worker). A flush already writing is let finish."""
        await self._marks.close()

    async def done(self, *ids: int) -> None:
        async with self.db.alone() as connection:
            await mark_done(connection, model=Telling, key="id", ids=ids, at=utcnow())

    def let_go(self, key: int, /) -> None:
        """Nothing to do: a row's lease runs out by itself."""

    async def gave_up(self, row_id: int, why: str) -> None:
        """Why a row done was not sent after all (kept for someone looking into it)."""
        async with self.db.alone() as connection:
            await note_given_up(connection, row_id=row_id, why=why[:500])

    async def failed(self, row: Claimed, error: BaseException) -> None:
        """A try that raised: counted and tried again a while later, or parked after PARK_AFTER_ATTEMPTS."""
        async with self.db.alone() as connection:
            attempts = await count_failure(
                connection, row_id=row.id, error=error_text(error), retry_at=utcnow() + RETRY_AFTER
            )
        if attempts is not None and attempts >= PARK_AFTER_ATTEMPTS:
            log.error("parked %s telling %s after %d tries", row.kind.value, row.id, attempts)
            PARKED.labels(kind="telling").inc()

    async def release(self, ids: Sequence[int]) -> None:
        """Rows this worker will not tell after all (it is stopping): any worker may claim them now."""
        if ids:
            async with self.db.alone() as connection:
                await release_tellings(connection, ids=ids, now=utcnow())


def _claimed(values: Mapping[Any, Any]) -> Claimed:
    recorded = {name: values[name] for name in FIELDS} | {"kind": Kind(values["kind"])}
    return Claimed(**recorded, id=values["id"], claimed_until=values["claimed_until"])
