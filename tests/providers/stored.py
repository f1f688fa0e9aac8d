"""What a provider test reads back from the database: the notices as stored, and the charges."""

from __future__ import annotations

from sqlmodel import col, select

from storage.models import Payment, ProviderNotice
from tests.harness import RunningShop


async def stored_notices(shop: RunningShop, provider: str) -> list[tuple[str, str | None]]:
    """The provider's notices as daifu stored them, oldest first: (status, error)."""
    async with shop.daifu.db.transaction() as session:
        rows = (
            await session.exec(
                select(ProviderNotice).where(ProviderNotice.provider == provider).order_by(col(ProviderNotice.id))
            )
        ).all()
    return [(row.status, row.error) for row in rows]


async def charges(shop: RunningShop) -> list[Payment]:
    """Every attempt that became a charge."""
    async with shop.daifu.db.transaction() as session:
        return list((await session.exec(select(Payment).where(col(Payment.provider_ref).is_not(None)))).all())
