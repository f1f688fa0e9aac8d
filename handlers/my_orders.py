"""/my: the orders a person made, paid or asked friends to pay for, newest first, five to a page, each with what
became of it in words; a tap opens one with what can still be done (share the request again, remind the friends,
cancel the request, or pay)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Update
from telegram.constants import ChatType, ParseMode
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from handlers.callback_data import CallbackData
from handlers.common import speak
from handlers.context import DaifuContext
from handlers.mini_app_buttons import open_in_app, order_start
from handlers.my_requests import RequestAction, RequestTap
from presentation.formatting import chat_time, esc, order_price, paid_amount
from presentation.order_status import chipped_in, request_open, status_words
from services.i18n import Gettext
from services.links import deep_link
from services.live_messages import LiveKind
from services.person_orders import PersonOrder
from services.read_models import RequestMode, utcnow
from services.why_not import why_not_order

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
LABEL_TITLE = 28  # characters of an order's title on its button


@dataclass(frozen=True, slots=True)
class PageTap(CallbackData):
    """« Newer or Older »: my:<page>, 0 the newest."""

    prefix: ClassVar[str] = "my"
    page: int


@dataclass(frozen=True, slots=True)
class OrderTap(CallbackData):
    """One order of the list opened: my:o:<order id> (checked to be the tapper's)."""

    prefix: ClassVar[str] = "my:o"
    order_id: int


def receipt_line(entry: PersonOrder, user_id: int, locale: str, _: Gettext) -> str | None:
    payment = entry.own_charge(user_id)
    if payment is None or payment.settled_at is None:
        return None
    return _("Receipt: {amount} on {time}, reference {reference}").format(
        amount=paid_amount(payment, locale),
        time=chat_time(payment.settled_at, locale),
        reference=esc(payment.provider_ref or ""),
    )


def order_button(number: int, entry: PersonOrder) -> InlineKeyboardButton:
    title = entry.order.title
    short = title if len(title) <= LABEL_TITLE else title[: LABEL_TITLE - 1] + "…"
    return InlineKeyboardButton(f"{number}. {short}", callback_data=OrderTap(entry.order.id).pack())


async def render_page(update: Update, context: DaifuContext, page: int) -> tuple[str, InlineKeyboardMarkup | None]:
    locale, _ = await speak(update, context)
    assert update.effective_user is not None
    user_id = update.effective_user.id
    result = await context.daifu.person_orders.page(user_id, page)
    if not result.orders:
        return _("You have no orders yet. Open a checkout link to pay one."), None
    lines = [_("<b>Your orders</b> (page {page})").format(page=page + 1), ""]
    now = utcnow()
    rows = []
    for number, entry in enumerate(result.orders, start=page * 5 + 1):
        order = entry.order
        lines.append(f"{number}. <b>{esc(order.title)}</b> · {order_price(order, locale)}")
        lines.append("   " + status_words(entry, locale, _))
        receipt = receipt_line(entry, user_id, locale, _)
        if receipt is not None:
            lines.append("   " + receipt)
        elif why_not_order(order, now) is None and not request_open(entry):
            lines.append("   " + _("Pay: {link}").format(link=deep_link(context.bot.username, order.token)))
        rows.append([order_button(number, entry)])
    lines += ["", _("Tap an order to see what you can still do with it.")]
    nav = []
    if page > 0:
        nav.append(InlineKeyboardButton(_("« Newer"), callback_data=PageTap(page - 1).pack()))
    if result.has_more:
        nav.append(InlineKeyboardButton(_("Older »"), callback_data=PageTap(page + 1).pack()))
    if nav:
        rows.append(nav)
    chat = update.effective_chat
    rows += open_in_app(context.daifu.rules, chat.type if chat else None, None, _)
    return "\n".join(lines), InlineKeyboardMarkup(rows)


def order_detail(
    context: DaifuContext, entry: PersonOrder, user_id: int, locale: str, _: Gettext, chat_type: str | None = None
) -> tuple[str, InlineKeyboardMarkup | None]:
    """One order, and the buttons for what can still be done with it."""
    order, request, now = entry.order, entry.request, utcnow()
    lines = [
        f"<b>{esc(order.title)}</b> · {order_price(order, locale)}",
        _("Status: {status}").format(status=status_words(entry, locale, _)),
    ]
    chipped = chipped_in(entry) if request is not None and request.mode == RequestMode.SPLIT else []
    if chipped:
        parts = []
        for charge in chipped:
            name = entry.names.get(charge.id)
            who = _("you") if name is None else (esc(name) if name else _("a friend"))
            parts.append(f"{who} {paid_amount(charge, locale)}")
        lines.append(_("Chipped in: {parts}").format(parts=", ".join(parts)))
    receipt = receipt_line(entry, user_id, locale, _)
    if receipt is not None:
        lines.append(receipt)
    rows: list[list[InlineKeyboardButton]] = []
    if request is not None and request_open(entry):
        lines.append(
            _("Your request to friends is open until {time}.").format(time=chat_time(request.expires_at, locale))
        )
        if request.friends_reminded_at is not None:
            lines.append(_("Friends reminded {time}.").format(time=chat_time(request.friends_reminded_at, locale)))
        token = request.token
        rows.append(
            [
                InlineKeyboardButton(_("Share again"), callback_data=RequestTap(RequestAction.SHARE, token).pack()),
                InlineKeyboardButton(_("Remind friends"), callback_data=RequestTap(RequestAction.REMIND, token).pack()),
            ]
        )
        rows.append(
            [InlineKeyboardButton(_("Cancel request"), callback_data=RequestTap(RequestAction.CANCEL, token).pack())]
        )
    elif why_not_order(order, now) is None:
        lines.append(_("Pay by: {time}").format(time=chat_time(order.expires_at, locale)))
        link = deep_link(context.bot.username, order.token)
        rows.append([InlineKeyboardButton(_("Pay or ask a friend"), url=link)])
    if rows:  # something can still be done with it: in the app too
        start = request.token if request is not None and request_open(entry) else order_start(order.token)
        rows += open_in_app(context.daifu.rules, chat_type, start, _)
    return "\n".join(lines), InlineKeyboardMarkup(rows) if rows else None


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


async def open_order(update: Update, context: DaifuContext) -> None:
    query, user = update.callback_query, update.effective_user
    tap = OrderTap.unpack(query.data) if query else None
    if query is None or tap is None or user is None:
        return
    locale, _ = await speak(update, context)
    entry = await context.daifu.person_orders.one(user.id, tap.order_id)
    if entry is None:
        await query.answer(_("That order is not one of yours."), show_alert=True)
        return
    await query.answer()
    chat = query.message.chat if query.message is not None else None  # where the list was shown
    text, markup = order_detail(context, entry, user.id, locale, _, chat.type if chat else ChatType.PRIVATE)
    chat_id = chat.id if chat is not None else user.id
    sent = await context.bot.send_message(
        chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup, link_preview_options=NO_PREVIEW
    )
    if markup is not None:
        # Its buttons go once the order (or the request they act on) is finished (handlers.tidying).
        await context.daifu.live_messages.remember(
            LiveKind.MY_ORDER,
            chat_id=sent.chat_id,
            message_id=sent.message_id,
            order_id=entry.order.id,
            request_id=entry.request.id if entry.request is not None and request_open(entry) else None,
            locale=locale,
            text=text,
        )


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [
        CommandHandler("my", my_orders),
        CallbackQueryHandler(turn_page, pattern=PageTap.pattern()),
        CallbackQueryHandler(open_order, pattern=OrderTap.pattern()),
    ]
