"""refunded_payment service messages: Telegram says a payment made in the chat went back to its payer (daifu's own
refund, or one made outside daifu), and the books are brought in line (services.outside_refunds)."""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update
from telegram.ext import BaseHandler, MessageHandler, filters

from handlers.context import DaifuContext
from services.money import Money
from services.outside_refunds import GoneBack

log = logging.getLogger(__name__)


async def refunded_payment(update: Update, context: DaifuContext) -> None:
    message = update.effective_message
    if message is None or message.refunded_payment is None:
        return
    refunded = message.refunded_payment
    gone = await context.daifu.outside_refunds.refunded_in_telegram(
        charge_ref=refunded.telegram_payment_charge_id, amount=Money(refunded.total_amount, refunded.currency)
    )
    if gone == GoneBack.UNKNOWN:
        # Not a charge daifu knows: the Stars ledger's reading shows it to the admins (/providers).
        log.warning("refunded payment %s is not a charge daifu knows", refunded.telegram_payment_charge_id)


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [MessageHandler(filters.StatusUpdate.REFUNDED_PAYMENT, refunded_payment)]
