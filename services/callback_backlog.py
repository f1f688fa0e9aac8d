"""How the shop callbacks' outbox is doing, for /providers: what is waiting, and what keeps failing."""

from __future__ import annotations

from dataclasses import dataclass

from services.read_models import CallbackInfo
from storage.database import Database
from storage.queries.callbacks import count_failing, count_undelivered, most_failing


@dataclass(frozen=True, slots=True)
class OutboxState:
    pending: int  # callbacks not delivered yet
    failing: int  # of those, the ones a shop has already refused or not answered
    worst: list[CallbackInfo]  # the failing ones with the most attempts


class CallbackBacklog:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def state(self, worst: int = 5) -> OutboxState:
        async with self.db.transaction() as session:
            pending = await count_undelivered(session)
            failing = await count_failing(session)
            rows = await most_failing(session, limit=worst)
        return OutboxState(pending, failing, [CallbackInfo.of(row) for row in rows])
