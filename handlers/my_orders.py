"""/my: the person's own orders and payments, newest first, five to a page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from handlers.callback_data import CallbackData
from handlers.common import speak
from handlers.context import DaifuContext
from presentation.formatting import chat_time, esc, order_price, paid_amount
from presentation.texts import status_name
from services.links import deep_link
from services.read_models import OrderStatus, utcnow
from services.why_not import why_not_order

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


@dataclass(frozen=True, slots=True)
class PageTap(CallbackData):
    """« Newer or Older »: my:<page>, 0 the newest."""

    prefix: ClassVar[str] = "my"
    page: int


async def render_page(update: Update, context: DaifuContext, page: int) -> tuple[str, InlineKeyboardMarkup | None]:
    locale, _ = await speak(update, context)
    assert update.effective_user is not None
    daifu = context.daifu
    result = await daifu.orders.page_for_person(update.effective_user.id, page)
    if not result.orders:
        return _("You have no orders yet. Open a checkout link to pay one."), None
    lines = [_("<b>Your orders</b> (page {page})").format(page=page + 1), ""]
    now = utcnow()
    for order in result.orders:
        lines.append(f"<b>{esc(order.title)}</b> · {order_price(order, locale)} · {status_name(order.status, _)}")
        if order.status in (OrderStatus.PAID, OrderStatus.REFUNDED):
            payment = await daifu.orders.successful_payment(order.id)
            if payment is not None and payment.settled_at is not None:
                lines.append(
                    _("Receipt: {amount} on {time}, reference {reference}").format(
                        amount=paid_amount(payment, locale),
                        time=chat_time(payment.settled_at, locale),
                        reference=esc(payment.provider_ref or ""),
                    )
                )
        elif why_not_order(order, now) is None:
            lines.append(_("Pay: {link}").format(link=deep_link(context.bot.username, order.token)))
        lines.append("")
    nav = []
    if page > 0:
        nav.append(InlineKeyboardButton(_("« Newer"), callback_data=PageTap(page - 1).pack()))
    if result.has_more:
        nav.append(InlineKeyboardButton(_("Older »"), callback_data=PageTap(page + 1).pack()))
    return "\n".join(lines).strip(), InlineKeyboardMarkup([nav]) if nav else None


async def my_orders(update: Update, context: DaifuContext) -> None:
    text, markup = await render_page(update, context, 0)
    if update.effective_message:
        await update.effective_message.reply_text(
            text, parse_mode=ParseMode.HTML, reply_markup=markup, link_preview_options=NO_PREVIEW
        )


async def turn_page(update: Update, context: DaifuContext) -> None:
    query = update.callback_query
    tap = PageTap.unpack(query.data) if query else None
    if query is None or tap is None:
        return
    text, markup = await render_page(update, context, tap.page)
    await query.answer()
    await query.edit_message_text(text, parse_mode=ParseMode.HTML, reply_markup=markup, link_preview_options=NO_PREVIEW)


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [CommandHandler("my", my_orders), CallbackQueryHandler(turn_page, pattern=PageTap.pattern())]
