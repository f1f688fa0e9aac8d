"""How each provider answered its last call, kept in the database so every worker's calls count; and the
provider work the housekeeping job gave up retrying (parked notices and refunds), for /providers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from services.parking import PARK_AFTER_ATTEMPTS
from services.read_models import ProviderHealthInfo
from storage.database import Database
from storage.models import ProviderHealth, utcnow
from storage.queries import parked_work


@dataclass(frozen=True, slots=True)
class ParkedItem:
    kind: str  # "notice" or "refund"
    id: int
    provider: str | None  # a notice's provider; None for a refund
    since: datetime
    attempts: int
    error: str


@dataclass(frozen=True, slots=True)
class ParkedWork:
    notices: int
    refunds: int
    latest: tuple[ParkedItem, ...]  # newest first, a few of each kind


class ProviderHealthLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, provider: str, *, ok: bool, error: str | None = None) -> None:
        try:
            async with self.db.transaction() as session:
                row = await session.get(ProviderHealth, provider)
                if row is None:
                    row = ProviderHealth(provider=provider, last_call_at=utcnow(), ok=ok, error=error)
                row.last_call_at, row.ok, row.error = utcnow(), ok, error
                session.add(row)
        except IntegrityError:
            pass  # another worker recorded the first call at the same moment; the next call updates it

    async def all(self) -> dict[str, ProviderHealthInfo]:
        async with self.db.transaction() as session:
            rows = await parked_work.provider_health(session)
            return {row.provider: ProviderHealthInfo.of(row) for row in rows}

    async def parked(self, latest: int = 5) -> ParkedWork:
        """Notices and refunds that kept failing and are no longer tried: how many, and the last few."""
        tries = PARK_AFTER_ATTEMPTS
        async with self.db.transaction() as session:
            notices = await parked_work.count_parked_notices(session)
            refunds = await parked_work.count_parked_refunds(session, attempts=tries)
            notice_rows = await parked_work.latest_parked_notices(session, limit=latest)
            refund_rows = await parked_work.latest_parked_refunds(session, attempts=tries, limit=latest)
        items = [
            ParkedItem("notice", row.id or 0, row.provider, row.received_at, row.attempts, row.error or "")
            for row in notice_rows
        ] + [
            ParkedItem("refund", row.id or 0, None, row.created_at, row.attempts, row.last_error or "")
            for row in refund_rows
        ]
        return ParkedWork(int(notices), int(refunds), tuple(items))
