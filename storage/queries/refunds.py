"""Refunds daifu asked a provider for: those a worker left pending, the lease one worker takes on one, and the
refund a provider's event names."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Payment, Refund
from storage.queries.leases import lapsed, take_lease


async def pending_refunds_due(
    session: AsyncSession, *, now: datetime, asked_before: datetime, max_attempts: int, limit: int
) -> list[int]:
    """Pending refunds asked for before the moment, free to take at now and tried fewer than max_attempts
    times (the rest are parked), oldest first."""
    statement = (
        select(Refund.id)
        .where(
            col(Refund.status) == "pending",
            col(Refund.created_at) <= asked_before,
            lapsed(Refund, now),
            col(Refund.attempts) < max_attempts,
        )
        .order_by(col(Refund.id))
        .limit(limit)
    )
    return [refund_id for refund_id in (await session.exec(statement)).all() if refund_id is not None]


async def lease_refund(session: AsyncSession, *, refund_id: int, now: datetime, until: datetime) -> bool:
    """Whether this worker took the pending refund (free at now) until the moment."""
    return await take_lease(session, model=Refund, row_id=refund_id, status="pending", now=now, until=until)


async def count_failed_try(session: AsyncSession, *, refund_id: int, error: str) -> None:
    await session.exec(
        update(Refund).where(col(Refund.id) == refund_id).values(attempts=col(Refund.attempts) + 1, last_error=error)
    )


async def reported_refund(
    session: AsyncSession, *, provider: str, refund_id: int | None, charge_ref: str, refund_ref: str
) -> Refund | None:
    """The refund of that provider's an event reports: by daifu's refund key (refund_id, on that charge) when
    the event carries one, else by the provider's refund reference."""
    found = select(Refund).join(Payment, col(Payment.id) == col(Refund.payment_id))
    found = found.where(col(Payment.provider) == provider)
    if refund_id is not None:
        found = found.where(col(Refund.id) == refund_id, col(Payment.provider_ref) == charge_ref)
    else:
        found = found.where(col(Refund.provider_refund_ref) == refund_ref)
    return (await session.exec(found)).first()


async def fail_done_refund(session: AsyncSession, *, refund_id: int, why: str, at: datetime) -> bool:
    """Whether the refund, done until now, was marked failed (only one event moves it)."""
    changed = await session.exec(
        update(Refund)
        .where(col(Refund.id) == refund_id, col(Refund.status) == "done")
        .values(status="failed", error=why, finished_at=at)
    )
    return bool(changed.rowcount == 1)
