"""How each provider answered its last call, kept in the database so every worker's calls count."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from storage.database import Database
from storage.models import ProviderHealth, utcnow


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

    async def all(self) -> dict[str, ProviderHealth]:
        async with self.db.transaction() as session:
            return {row.provider: row for row in (await session.exec(select(ProviderHealth))).all()}
