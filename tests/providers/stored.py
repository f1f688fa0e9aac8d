"""What the provider tests share: the shopper tapping a method, and what daifu stored of it."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from storage.models import OrphanCharge, Payment, ProviderNotice, RejectedNotice
from tests.harness import BOT_USERNAME, RunningShop


async def stored_notices(shop: RunningShop, provider: str) -> list[tuple[str, str | None]]:
    """The provider's notices as daifu kept them, oldest first: (status, error); one that failed verification
    is only a short record, shown as ("rejected", why)."""
    async with shop.daifu.db.transaction() as session:
        kept = (await session.exec(select(ProviderNotice).where(ProviderNotice.provider == provider))).all()
        refused = (await session.exec(select(RejectedNotice).where(RejectedNotice.provider == provider))).all()
    timeline = [(row.received_at, row.id or 0, (row.status, row.error)) for row in kept]
    timeline += [(row.received_at, row.id or 0, ("rejected", row.reason)) for row in refused]
    return [entry for _at, _id, entry in sorted(timeline, key=lambda item: (item[0], item[1]))]


async def charges(shop: RunningShop) -> list[Payment]:
    """Every attempt that became a charge."""
    async with shop.daifu.db.transaction() as session:
        return list((await session.exec(select(Payment).where(col(Payment.provider_ref).is_not(None)))).all())


async def tap_method(shop: RunningShop, token: str, method: str) -> dict[str, Any]:
    """Alice opens the order and taps a payment method; returns what the bot sends her (a QR photo)."""
    await shop.emu.open_link(shop.alice, f"https://t.me/{BOT_USERNAME}?start={token}")
    card = await shop.emu.next_bot_message(shop.alice)
    await shop.emu.click(shop.alice, card, method)
    return await shop.emu.next_bot_message(shop.alice)


async def orphan_charges(shop: RunningShop) -> list[OrphanCharge]:
    """Money daifu kept for checkouts it does not know, oldest first."""
    async with shop.daifu.db.transaction() as session:
        return list((await session.exec(select(OrphanCharge).order_by(col(OrphanCharge.id)))).all())
