"""/orders [status] [text]: every order of the shop, newest first, ten to a page, filtered, for its admins.

A button's callback data holds only which way to turn and the order at the page's edge (keyset paging); the
filter, which may be longer than Telegram's 64 bytes of callback data, is kept in the database (daifu.buttons)
under a short id, so that any worker can turn the page. A tap on a list whose filter is gone (a day old) is
answered as out of date.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from handlers.admin_common import NO_PREVIEW, admin_tapped, edit_quietly
from handlers.callback_data import CallbackData
from handlers.common import admin_only, speak
from handlers.context import DaifuContext
from presentation.formatting import chat_time, esc
from presentation.texts import order_line, status_name
from services.i18n import Gettext
from services.order_listing import OrderFilter, OrderListPage
from services.read_models import OrderStatus

BUTTON_KIND = "orders"  # the filter behind the paging buttons, in daifu.buttons
TEXT_MAX = 64


class Turn(StrEnum):
    NEWER = "n"
    OLDER = "o"


@dataclass(frozen=True, slots=True)
class PageTap(CallbackData):
    """ao:<filter id>:<n|o>:<the order at the page's edge>."""

    prefix: ClassVar[str] = "ao"
    filter_id: str
    turn: Turn
    edge: int


def parse_filter(args: list[str]) -> OrderFilter:
    words = list(args)
    status = None
    if words and words[0].lower() in {s.value for s in OrderStatus}:
        status = OrderStatus(words.pop(0).lower())
    return OrderFilter(status, " ".join(words)[:TEXT_MAX])


async def remember_filter(context: DaifuContext, admin_id: int, where: OrderFilter) -> str:
    data = {"status": where.status.value if where.status else None, "text": where.text}
    return await context.daifu.buttons.keep(admin_id, BUTTON_KIND, data)


async def recall_filter(context: DaifuContext, admin_id: int, filter_id: str) -> OrderFilter | None:
    stored = await context.daifu.buttons.recall(filter_id, admin_id, BUTTON_KIND)
    if stored is None:
        return None
    return OrderFilter(OrderStatus(stored["status"]) if stored["status"] else None, stored["text"] or "")


def render(
    page: OrderListPage, where: OrderFilter, filter_id: str, locale: str, _: Gettext
) -> tuple[str, InlineKeyboardMarkup | None]:
    title = _("<b>Orders</b>")
    if where.status is not None:
        title += " · " + _("status: {status}").format(status=status_name(where.status, _))
    if where.text:
        title += " · " + _("search: “{text}”").format(text=esc(where.text))
    if not page.orders:
        return title + "\n\n" + _("No orders match."), None
    lines = [title, ""]
    for order in page.orders:
        # By number, as every admin note names it; the token is for /order, which takes the number too.
        lines.append(f"{order_line(order, locale, _)} · {status_name(order.status, _)}")
        lines.append(f"    {chat_time(order.created_at, locale)}")
    newest, oldest = page.orders[0].id, page.orders[-1].id
    nav = []
    if page.has_newer:
        nav.append(InlineKeyboardButton(_("« Newer"), callback_data=PageTap(filter_id, Turn.NEWER, newest).pack()))
    if page.has_older:
        nav.append(InlineKeyboardButton(_("Older »"), callback_data=PageTap(filter_id, Turn.OLDER, oldest).pack()))
    return "\n".join(lines), InlineKeyboardMarkup([nav]) if nav else None


async def list_orders(update: Update, context: DaifuContext) -> None:
    locale, _ = await speak(update, context)
    message = update.effective_message
    if message is None or not await admin_only(update, context, _):
        return
    where = parse_filter(context.args or [])
    assert update.effective_user is not None  # admin_only let the command through
    filter_id = await remember_filter(context, update.effective_user.id, where)
    page = await context.daifu.order_listing.page(where)
    text, markup = render(page, where, filter_id, locale, _)
    await message.reply_text(text, parse_mode=ParseMode.HTML, reply_markup=markup, link_preview_options=NO_PREVIEW)


async def turn_page(update: Update, context: DaifuContext) -> None:
    query = update.callback_query
    tap = PageTap.unpack(query.data) if query else None
    if query is None or tap is None:
        return
    locale, _ = await speak(update, context)
    if not await admin_tapped(update, context, _):
        return
    assert update.effective_user is not None
    where = await recall_filter(context, update.effective_user.id, tap.filter_id)
    if where is None:
        await query.answer(_("This list is out of date. Send /orders again."), show_alert=True)
        await context.bot.take_buttons_off(query)
        return
    page = await context.daifu.order_listing.page(
        where,
        older_than=tap.edge if tap.turn == Turn.OLDER else None,
        newer_than=tap.edge if tap.turn == Turn.NEWER else None,
    )
    text, markup = render(page, where, tap.filter_id, locale, _)
    await query.answer()
    await edit_quietly(update, text, markup)


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [
        CommandHandler("orders", list_orders),
        CallbackQueryHandler(turn_page, pattern=PageTap.pattern()),
    ]
