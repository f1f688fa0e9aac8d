"""/cancel <order>: an admin closes an unpaid order; its requests close too and any chip-ins go back.

daifu.closing.cancel does the work and logs it in the order's events with the admin's id, and records what the
request cards and the friends whose chip-ins were refunded are told (the teller sends it).
"""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import BaseHandler, CommandHandler

from handlers.admin_common import named_order
from handlers.common import admin_only, speak
from handlers.context import DaifuContext
from presentation.formatting import esc
from presentation.texts import order_not_cancellable
from services.order_closing import OrderNotCancellable
from services.read_models import OrderStatus, utcnow
from services.why_not import order_status_now


async def cancel_order(update: Update, context: DaifuContext) -> None:
    _locale, _ = await speak(update, context)
    message = update.effective_message
    if message is None or update.effective_user is None or not await admin_only(update, context, _):
        return
    order = await named_order(update, context, _, _("Usage: /cancel ORDER (its number or the token of its link)"))
    if order is None:
        return
    if order_status_now(order, utcnow()) == OrderStatus.EXPIRED:
        # Past its time, swept by the expiry job or not: for shoppers it is expired already.
        await message.reply_text(order_not_cancellable(order.id, OrderStatus.EXPIRED, _))
        return
    try:
        closed = await context.daifu.closing.cancel(order.id, actor_id=update.effective_user.id)
    except OrderNotCancellable as refused:
        await message.reply_text(order_not_cancellable(order.id, refused.status, _))
        return
    lines = [_("🚫 Cancelled order #{number}, <b>{title}</b>.").format(number=order.id, title=esc(order.title))]
    if closed.requests:
        lines.append(_("Pay-for-me requests closed: {count}").format(count=closed.requests))
    if closed.returned:
        lines.append(_("Chip-ins given back to friends: {count}").format(count=closed.returned))
    await message.reply_text("\n".join(lines), parse_mode=ParseMode.HTML)


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [CommandHandler("cancel", cancel_order)]
