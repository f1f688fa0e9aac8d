"""Provider work the housekeeping job gave up retrying: notices parked, and refunds still pending after as many
tries as it makes (how many is the caller's); and how each provider answered its last call (provider_health)."""

from __future__ import annotations

from sqlalchemy import ColumnElement
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import ProviderHealth, ProviderNotice, Refund


def _refund_parked(attempts: int) -> tuple[ColumnElement[bool], ...]:
    return col(Refund.status) == "pending", col(Refund.attempts) >= attempts


async def provider_health(session: AsyncSession) -> list[ProviderHealth]:
    return list((await session.exec(select(ProviderHealth))).all())


async def count_parked_notices(session: AsyncSession) -> int:
    return int((await session.exec(select(func.count()).where(ProviderNotice.status == "parked"))).one())


async def count_parked_refunds(session: AsyncSession, *, attempts: int) -> int:
    statement = select(func.count()).select_from(Refund).where(*_refund_parked(attempts))
    return int((await session.exec(statement)).one())


async def latest_parked_notices(session: AsyncSession, *, limit: int) -> list[ProviderNotice]:
    statement = (
        select(ProviderNotice)
        .where(ProviderNotice.status == "parked")
        .order_by(col(ProviderNotice.id).desc())
        .limit(limit)
    )
    return list((await session.exec(statement)).all())


async def latest_parked_refunds(session: AsyncSession, *, attempts: int, limit: int) -> list[Refund]:
    statement = select(Refund).where(*_refund_parked(attempts)).order_by(col(Refund.id).desc()).limit(limit)
    return list((await session.exec(statement)).all())
