"""What /readyz and /metrics ask of the database, so that the web floor runs no SQL of its own."""

from __future__ import annotations

from services.parking import PARK_AFTER_ATTEMPTS
from storage.database import Database
from storage.queries import operations as queries
from storage.queries import parked_work, tellings
from storage.queries.callbacks import count_undelivered


class OperationsProbes:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def database_answers(self) -> None:
        """Returns once the database has answered; raises whatever reaching it raised."""
        async with self.db.transaction() as session:
            await queries.ping(session)

    async def callbacks_waiting(self) -> int:
        """Callbacks to shops not delivered yet."""
        async with self.db.transaction() as session:
            return await count_undelivered(session)

    async def parked_items(self) -> dict[str, int]:
        """Items no longer retried after failing again and again, parked for an admin: how many now, by kind."""
        async with self.db.transaction() as session:
            return {
                "notice": await parked_work.count_parked_notices(session),
                "refund": await parked_work.count_parked_refunds(session, attempts=PARK_AFTER_ATTEMPTS),
                "telling": await tellings.count_parked(session, attempts=PARK_AFTER_ATTEMPTS),
            }
