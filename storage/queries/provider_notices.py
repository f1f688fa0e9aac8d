"""Provider notices kept to be applied (provider_notices): those left unapplied, the claim one worker takes on
one, and what became of it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import ProviderNotice


async def notices_to_resume(
    session: AsyncSession,
    *,
    statuses: Sequence[str],
    providers: Sequence[str],
    received_before: datetime,
    received_after: datetime,
    limit: int,
) -> list[int]:
    """Notices in one of these statuses from these providers, received between the two moments, oldest first."""
    statement = (
        select(ProviderNotice.id)
        .where(
            col(ProviderNotice.status).in_(statuses),
            col(ProviderNotice.received_at) <= received_before,
            col(ProviderNotice.received_at) > received_after,
            col(ProviderNotice.provider).in_(providers),
        )
        .order_by(col(ProviderNotice.id))
        .limit(limit)
    )
    return [notice_id for notice_id in (await session.exec(statement)).all() if notice_id is not None]


async def claim_notice(
    session: AsyncSession, *, notice_id: int, statuses: Sequence[str], now: datetime, claimed_before: datetime
) -> bool:
    """Whether this worker claimed the notice (still in one of these statuses, and unclaimed or claimed before
    the moment by a worker that died): processed_at is the claim, and the try is counted."""
    processed_at = col(ProviderNotice.processed_at)
    unclaimed = processed_at.is_(None) | (processed_at <= claimed_before)
    claimed = await session.exec(
        update(ProviderNotice)
        .where(col(ProviderNotice.id) == notice_id, col(ProviderNotice.status).in_(statuses), unclaimed)
        .values(processed_at=now, attempts=col(ProviderNotice.attempts) + 1)
    )
    return bool(claimed.rowcount == 1)


async def mark_notice(session: AsyncSession, *, notice_id: int, values: Mapping[str, object]) -> None:
    await session.exec(update(ProviderNotice).where(col(ProviderNotice.id) == notice_id).values(**values))
