"""How the shop callbacks' outbox is doing, for /providers: what is waiting, and what keeps failing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement
from sqlmodel import col, desc, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.read_models import CallbackInfo
from storage.database import Database
from storage.models import CallbackDelivery


@dataclass(frozen=True, slots=True)
class OutboxState:
    pending: int  # callbacks not delivered yet
    failing: int  # of those, the ones a shop has already refused or not answered
    worst: list[CallbackInfo]  # the failing ones with the most attempts


class CallbackBacklog:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def state(self, worst: int = 5) -> OutboxState:
        # Undelivered rows are found through ix_callback_deliveries_due (delivered_at, next_attempt_at).
        undelivered = col(CallbackDelivery.delivered_at).is_(None)
        failing = (undelivered, col(CallbackDelivery.attempts) > 0)
        async with self.db.transaction() as session:
            pending = await _count(session, CallbackDelivery, undelivered)
            failing_count = await _count(session, CallbackDelivery, *failing)
            rows = (
                await session.exec(
                    select(CallbackDelivery)
                    .where(*failing)
                    .order_by(desc(col(CallbackDelivery.attempts)), col(CallbackDelivery.id))
                    .limit(worst)
                )
            ).all()
            return OutboxState(pending, failing_count, [CallbackInfo.of(row) for row in rows])


async def _count(session: AsyncSession, table: Any, *where: ColumnElement[bool]) -> int:
    return int((await session.exec(select(func.count()).select_from(table).where(*where))).one())
