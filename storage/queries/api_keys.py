"""Shops, their API keys, and the idempotency keys of their API calls (orders, refunds)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import ApiKey, ApiRefundKey, Order, Shop


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


async def order_by_idempotency_key(session: AsyncSession, *, shop_id: int, key: str) -> Order | None:
    statement = select(Order).where(Order.shop_id == shop_id, Order.idempotency_key == key)
    return (await session.exec(statement)).first()


async def keep_refund_answer(session: AsyncSession, *, shop_id: int, key: str, answer: str) -> None:
    """The answer a refund under the key gave, replayed to a retry."""
    await session.exec(
        update(ApiRefundKey)
        .where(col(ApiRefundKey.shop_id) == shop_id, col(ApiRefundKey.key) == key)
        .values(answer=answer)
    )


async def release_refund_key(session: AsyncSession, *, shop_id: int, key: str) -> None:
    await session.exec(delete(ApiRefundKey).where(col(ApiRefundKey.shop_id) == shop_id, col(ApiRefundKey.key) == key))
