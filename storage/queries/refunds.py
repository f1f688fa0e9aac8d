"""Refunds daifu asked a provider for: those a worker left pending, the lease one worker takes on one, the
refund a provider's event names, and each refund moved on by one conditional UPDATE (kept pending, finished,
failed)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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


async def fail_refund(
    session: AsyncSession, *, refund_id: int, was: str, why: str, finished_at: datetime | None
) -> bool:
    """Whether the refund, still in the status it was, was marked failed (only one path moves it)."""
    return await _move_refund(session, refund_id, was, status="failed", error=why, finished_at=finished_at)


async def keep_refund_pending(session: AsyncSession, *, refund_id: int, refund_ref: str, amount_minor: int) -> None:
    """The provider's reference for the refund it took and has not finished, and what it says it gives back."""
    await _move_refund(session, refund_id, "pending", provider_refund_ref=refund_ref, amount_minor=amount_minor)


async def finish_refund(
    session: AsyncSession,
    *,
    refund_id: int,
    status: str,
    refund_ref: str | None,
    amount_minor: int,
    finished_at: datetime | None,
) -> bool:
    """Whether the refund, pending until now, was finished (done or owed) with what the provider gave back."""
    return await _move_refund(
        session,
        refund_id,
        "pending",
        status=status,
        provider_refund_ref=refund_ref,
        amount_minor=amount_minor,
        finished_at=finished_at,
    )


async def _move_refund(session: AsyncSession, refund_id: int, was: str, **values: Any) -> bool:
    """One conditional UPDATE: whether the refund, still in the status it was, took the values."""
    changed = await session.exec(
        update(Refund).where(col(Refund.id) == refund_id, col(Refund.status) == was).values(**values)
    )
    return bool(changed.rowcount == 1)
