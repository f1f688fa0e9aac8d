"""Shops and their API keys."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import ApiKey, Shop


async def shop_named(session: AsyncSession, *, name: str) -> Shop | None:
    return (await session.exec(select(Shop).where(Shop.name == name))).first()


async def shop_with_key(session: AsyncSession, *, key_hash: str) -> Shop | None:
    """The shop whose key has this hash, if that key is not revoked."""
    statement = (
        select(Shop)
        .join(ApiKey, ApiKey.shop_id == Shop.id)  # type: ignore[arg-type]
        .where(ApiKey.key_hash == key_hash, col(ApiKey.revoked_at).is_(None))
    )
    return (await session.exec(statement)).first()


async def revoke_key(session: AsyncSession, *, prefix: str, revoked_by: int | None, at: datetime) -> bool:
    """Revoke the key with this prefix; True if there was one not revoked yet."""
    done = await session.exec(
        update(ApiKey)
        .where(col(ApiKey.prefix) == prefix, col(ApiKey.revoked_at).is_(None))
        .values(revoked_at=at, revoked_by=revoked_by)
    )
    return bool(done.rowcount == 1)
