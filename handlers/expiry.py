"""A periodic job that expires orders past their time, so their links stop taking payments."""

from __future__ import annotations

import logging

from handlers.context import DaifuContext

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 60


async def expire_orders(context: DaifuContext) -> None:
    expired = await context.daifu.orders.expire_due()
    if expired:
        log.info("expired %d orders", len(expired))
