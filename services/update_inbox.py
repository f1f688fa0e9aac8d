"""The inbox of Telegram updates, by webhook or polling: each applied once, none lost across a crash, and one that
cannot be parsed kept aside with the reason."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from storage.database import Database
from storage.models import TelegramUpdate, utcnow
from storage.queries import telegram_updates as inbox
from storage.queries.done_marks import mark_done

log = logging.getLogger(__name__)
MAX_BATCH = 100  # updates written down in one transaction, at most
# An update not done this long after it arrived, and whose worker has stopped renewing its lease, is taken to be
# lost with a crashed worker.
RECOVER_AFTER = timedelta(seconds=30)
# How often a worker renews the leases of the updates it is still handling (a slow provider call, a lock wait):
# well inside RECOVER_AFTER, so that no other worker, nor its own recovery job, takes one up while it lives.
RENEW_LEASES_SECONDS = 10
# Telegram stops retrying after a day; done rows older than that can never be duplicated any more.
KEEP_DONE = timedelta(days=2)


class UpdateInbox:
    """Writes updates down as they arrive. While one write is on its way to the database, the updates that
    arrive meanwhile wait and go in the next write together: under load a transaction carries many updates
    (one transaction per update was a large share of the bot's CPU), and an update alone waits for none.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._waiting: list[tuple[int, str, asyncio.Future[bool]]] = []
        self._writing: asyncio.Task[None] | None = None
        self.in_hand: set[int] = set()  # written down (or recovered) by this worker and not yet finished

    async def accept(self, update_id: int, payload: str) -> bool:
        """Write the update (its JSON text) down before handling it; False if it was received before (a retry)."""
        arrived = asyncio.get_running_loop().create_future()
        self._waiting.append((update_id, payload, arrived))
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write_waiting())
        new: bool = await asyncio.shield(arrived)
        if new:
            self.in_hand.add(update_id)
        return new

    async def reject(self, update_id: int, payload: str, error: str) -> bool:
        """Keep an update that cannot be handled (the library could not parse it) with the reason, done when
        written so that no recovery hands it out again; False if it was set aside or handled before (a retry)."""
        now = utcnow()
        row = {"update_id": update_id, "payload": payload, "received_at": now, "done_at": now, "rejection": error}
        async with self.db.alone() as connection:
            rejected = await inbox.reject_update(connection, row=row)
        self.in_hand.discard(update_id)
        return rejected

    def let_go(self, update_id: int) -> None:
        """The update is finished here and marked done (or its mark failed): its lease is no longer renewed."""
        self.in_hand.discard(update_id)

    async def renew_leases(self) -> None:
        """Keep the updates this worker is still handling from being taken for lost."""
        if not self.in_hand:
            return
        async with self.db.transaction() as session:
            await inbox.renew_leases(session, update_ids=sorted(self.in_hand), until=utcnow() + RECOVER_AFTER)

    async def _write_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            try:
                new = await self._write(batch)
            except Exception as error:  # each waiting webhook request answers 500; Telegram sends it again
                for _id, _payload, arrived in batch:
                    if not arrived.done():
                        arrived.set_exception(error)
                continue
            for update_id, _payload, arrived in batch:
                # Two deliveries of one update in the same batch: the first is new, the second a retry.
                if not arrived.done():
                    arrived.set_result(update_id in new)
                new.discard(update_id)

    async def _write(self, batch: list[tuple[int, str, asyncio.Future[bool]]]) -> set[int]:
        now = utcnow()
        rows = {update_id: payload for update_id, payload, _arrived in batch}
        # In update_id order, so two workers writing overlapping batches (retries) never wait on each other in a cycle.
        params = [{"update_id": key, "payload": rows[key], "received_at": now} for key in sorted(rows)]
        if len(params) == 1:  # the usual case: Telegram sends one update at a time
            async with self.db.alone() as connection:
                return await inbox.insert_updates(connection, rows=params)
        # Several rows go in together or not at all: rows left behind by a failed batch would make Telegram's
        # retries of their updates look like duplicates.
        async with self.db.engine.begin() as connection:
            return await inbox.insert_updates(connection, rows=params)

    async def close(self) -> None:
        """Finish the write on its way, so that no update taken in is left half written at shutdown."""
        if self._writing is not None:
            await self._writing

    async def done(self, *update_ids: int) -> None:
        async with self.db.alone() as connection:
            await mark_done(connection, model=TelegramUpdate, key="update_id", ids=update_ids, at=utcnow())

    async def unfinished(self, limit: int = 100) -> list[dict[str, Any]]:
        """Updates a worker received but never finished (and no live worker holds), each claimed for this one."""
        now = utcnow()
        async with self.db.transaction() as session:
            stale = await inbox.lost_updates(
                session,
                besides=sorted(self.in_hand),  # slow, not lost
                received_by=now - RECOVER_AFTER,
                now=now,
                limit=limit,
            )
        recovered = []
        for update_id in stale:
            async with self.db.transaction() as session:
                # The lease makes sure only one worker takes each of them up again.
                payload = await inbox.claim_lost_update(
                    session, update_id=update_id, now=now, until=now + RECOVER_AFTER
                )
                if payload is not None:
                    recovered.append(payload)
                    self.in_hand.add(update_id)
        return recovered

    async def forget_old(self, older_than: timedelta = KEEP_DONE, *, limit: int = 1000) -> int:
        """Delete up to `limit` finished updates done longer ago than `older_than`; how many went. An update not
        finished is never deleted: it is work still to do."""
        return await forget_finished(self.db, older_than, limit=limit)


async def forget_finished(db: Database, older_than: timedelta, *, limit: int) -> int:
    """The pruning query of the inbox (services.retention runs it in batches, one worker at a time)."""
    done_before = utcnow() - older_than
    async with db.transaction() as session:
        return await inbox.forget_done(session, done_before=done_before, limit=limit)
