"""Money that came for a checkout daifu does not know (orphan_charges): those a worker left being given back,
the lease one worker takes on one, and what became of it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import or_
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import OrphanCharge
from storage.queries.leases import lapsed, take_lease


async def charges_to_give_back(
    session: AsyncSession, *, now: datetime, kept_before: datetime, kept_after: datetime, limit: int
) -> list[int]:
    """Charges still being given back, kept between the two moments and free to take at now, oldest first."""
    statement = (
        select(OrphanCharge.id)
        .where(
            col(OrphanCharge.status) == "refunding",
            col(OrphanCharge.created_at) <= kept_before,
            col(OrphanCharge.created_at) > kept_after,
            lapsed(OrphanCharge, now),
        )
        .order_by(col(OrphanCharge.id))
        .limit(limit)
    )
    return [charge_id for charge_id in (await session.exec(statement)).all() if charge_id is not None]


async def lease_charge(session: AsyncSession, *, charge_id: int, now: datetime, until: datetime) -> bool:
    """Whether this worker took the charge being given back (free at now) until the moment."""
    return await take_lease(session, model=OrphanCharge, row_id=charge_id, status="refunding", now=now, until=until)


async def record_outcome(session: AsyncSession, *, charge_id: int, values: Mapping[str, object]) -> None:
    """What became of giving the charge back (its status, the provider's refund reference, an error)."""
    await session.exec(update(OrphanCharge).where(col(OrphanCharge.id) == charge_id).values(**values))


async def orphan_charge_named(session: AsyncSession, *, reference: str) -> OrphanCharge | None:
    """The first charge kept with this id (Telegram's or the provider's)."""
    named = or_(col(OrphanCharge.charge_ref) == reference, col(OrphanCharge.provider_charge_ref) == reference)
    return (await session.exec(select(OrphanCharge).where(named).order_by(col(OrphanCharge.id)))).first()
