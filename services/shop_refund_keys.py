"""Idempotency keys for the shop API's refunds: taken before any money moves, answered, or given back."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from services.shop_order_errors import Problem, ShopOrderError, require_idempotency_key
from storage.database import Database
from storage.models import ApiRefundKey, utcnow
from storage.queries.api_keys import keep_refund_answer, release_refund_key

REFUND_KEY_STALE = timedelta(minutes=5)  # a refund's provider call takes seconds; after this it was interrupted


class RefundKeys:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def claim(self, shop_id: int, key: str, fingerprint: str) -> str | None:
        """Take the key for this refund (None), or the answer a refund under it gave before (to replay).

        The key is taken before any money moves, by inserting its row (the primary key decides between two
        requests at once): a retry that comes while the first is still at the provider is told to wait.
        """
        require_idempotency_key(key)
        try:
            async with self.db.transaction() as session:
                session.add(ApiRefundKey(shop_id=shop_id, key=key, request_hash=fingerprint))
            return None
        except IntegrityError:
            async with self.db.transaction() as session:
                taken = await session.get(ApiRefundKey, (shop_id, key))
        if taken is None:  # released a moment ago by a refused attempt: this one may try
            return await self.claim(shop_id, key, fingerprint)
        if taken.request_hash != fingerprint:
            raise ShopOrderError(
                Problem.IDEMPOTENCY_CONFLICT, "this Idempotency-Key was already used for another refund"
            )
        if taken.answer is None and taken.created_at < utcnow() - REFUND_KEY_STALE:
            raise ShopOrderError(
                Problem.IN_PROGRESS,
                "a refund under this Idempotency-Key was interrupted; daifu finishes it by itself: read the order "
                "(GET /api/v1/orders/{id}) to see what was given back",
            )
        if taken.answer is None:
            raise ShopOrderError(
                Problem.IN_PROGRESS, "a refund under this Idempotency-Key is still being made: ask again shortly"
            )
        return taken.answer

    async def keep_answer(self, shop_id: int, key: str, answer: str) -> None:
        async with self.db.transaction() as session:
            await keep_refund_answer(session, shop_id=shop_id, key=key, answer=answer)

    async def release(self, shop_id: int, key: str) -> None:
        """Nothing was given back under the key (refused, or the provider failed): the shop may use it again."""
        async with self.db.transaction() as session:
            await release_refund_key(session, shop_id=shop_id, key=key)
