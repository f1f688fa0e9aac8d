"""Ask a friend to pay: from an order card, with an optional note (and for a split, how many shares).

The draft lives in user_data, which the SQLModel persistence keeps, so a restart mid-way carries on.
"""

from __future__ import annotations

from typing import Any

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    SwitchInlineQueryChosenChat,
    Update,
)
from telegram.constants import ParseMode
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ConversationHandler, MessageHandler, filters

from handlers.common import esc, speak
from handlers.context import DaifuContext
from handlers.conversations import persistent_conversation
from handlers.texts import request_refusal, unpayable, when
from services.i18n import Gettext
from services.links import deep_link, qr_png
from services.money import format_money
from services.orders import OrderNotPayable
from services.pay_requests import RequestRefused, RequestView
from storage.models import RequestMode

SHARES, NOTE = range(2)
ENTRY = "ask"  # ask:<one|split>:<order token>
STEP = "askx"  # askx:skip | askx:cancel | askx:n:<shares>
DRAFT = "ask_draft"
SHARE_CHOICES = (2, 3, 4, 5, 6)


def ask_button_data(mode: str, token: str) -> str:
    return f"{ENTRY}:{mode}:{token}"


def cancel_row(_: Gettext) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(_("Cancel"), callback_data=f"{STEP}:cancel")]


def share_button(view: RequestView, _: Gettext) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        _("Share in a chat"),
        switch_inline_query_chosen_chat=SwitchInlineQueryChosenChat(
            query=view.request.token, allow_user_chats=True, allow_group_chats=True
        ),
    )


async def send_share_kit(context: DaifuContext, chat_id: int, view: RequestView, locale: str, _: Gettext) -> None:
    """Everything the requester needs to pass the request on: chat picker, link, QR code, web page."""
    link = deep_link(context.bot.username, view.request.token)
    text = "\n".join(
        [
            _("Your request is ready: <b>{title}</b>, {amount}, until {time}.").format(
                title=esc(view.order.title),
                amount=format_money(view.total, locale),
                time=when(view.request.expires_at, locale),
            ),
            _("Share it into a chat with the button below, or send this link: {link}").format(link=link),
            _("Friends without Telegram can pay on the web: {url}").format(
                url=context.daifu.rules.request_url(view.request.token)
            ),
        ]
    )
    markup = InlineKeyboardMarkup(
        [
            [share_button(view, _)],
            [InlineKeyboardButton(_("Cancel request"), callback_data=f"rq:cancel:{view.request.token}")],
        ]
    )
    await context.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup)
    await context.bot.send_photo(chat_id, qr_png(link), caption=_("Or let your friend scan this code."))


async def start_asking(update: Update, context: DaifuContext) -> int:
    query = update.callback_query
    if query is None or query.data is None:
        return ConversationHandler.END
    _locale, _ = await speak(update, context)
    _prefix, mode, token = query.data.split(":", 2)
    try:
        await context.daifu.orders.payable(token)
    except OrderNotPayable as refusal:
        await query.answer(unpayable(refusal.why, _), show_alert=True)
        return ConversationHandler.END
    await query.answer()
    context.user_data[DRAFT] = {"token": token, "mode": mode}  # type: ignore[index]
    if mode == "split":
        buttons = [InlineKeyboardButton(str(n), callback_data=f"{STEP}:n:{n}") for n in SHARE_CHOICES]
        await context.bot.send_message(
            query.from_user.id,
            _("How many friends will chip in? Each gets an equal share to pay (or any part of what is left)."),
            reply_markup=InlineKeyboardMarkup([buttons, cancel_row(_)]),
        )
        return SHARES
    await ask_for_note(context, query.from_user.id, _)
    return NOTE


async def ask_for_note(context: DaifuContext, chat_id: int, _: Gettext) -> None:
    await context.bot.send_message(
        chat_id,
        _("Add a note for your friend (for example: happy birthday to me!), or skip it."),
        reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton(_("Skip"), callback_data=f"{STEP}:skip")], cancel_row(_)]
        ),
    )


async def got_shares(update: Update, context: DaifuContext) -> int:
    query = update.callback_query
    assert query is not None and query.data is not None
    _locale, _ = await speak(update, context)
    await query.answer()
    draft = context.user_data.get(DRAFT) or {}  # type: ignore[union-attr]
    draft["shares"] = int(query.data.rpartition(":")[2])
    context.user_data[DRAFT] = draft  # type: ignore[index]
    await query.edit_message_reply_markup(None)
    await ask_for_note(context, query.from_user.id, _)
    return NOTE


async def got_note(update: Update, context: DaifuContext) -> int:
    note = ""
    if update.callback_query is not None:
        await update.callback_query.answer()
        await update.callback_query.edit_message_reply_markup(None)
    elif update.effective_message is not None and update.effective_message.text:
        note = update.effective_message.text
    return await create(update, context, note)


async def create(update: Update, context: DaifuContext, note: str) -> int:
    locale, _ = await speak(update, context)
    user = update.effective_user
    draft = context.user_data.pop(DRAFT, None) or {}  # type: ignore[union-attr]
    if user is None or "token" not in draft:
        return ConversationHandler.END
    daifu = context.daifu
    mode = RequestMode.SPLIT if draft["mode"] == "split" else RequestMode.SINGLE
    try:
        request = await daifu.requests.ask(draft["token"], user.id, mode=mode, shares=draft.get("shares"), note=note)
    except OrderNotPayable as refusal:
        await context.bot.send_message(user.id, unpayable(refusal.why, _))
        return ConversationHandler.END
    except RequestRefused as refusal:
        await context.bot.send_message(user.id, request_refusal(refusal, locale, _))
        return ConversationHandler.END
    await send_share_kit(context, user.id, await daifu.requests.view_of(request), locale, _)
    return ConversationHandler.END


async def cancel(update: Update, context: DaifuContext) -> int:
    _locale, _ = await speak(update, context)
    context.user_data.pop(DRAFT, None)  # type: ignore[union-attr]
    if update.callback_query is not None:
        await update.callback_query.answer()
        await update.callback_query.edit_message_reply_markup(None)
    if update.effective_user is not None:
        await context.bot.send_message(update.effective_user.id, _("Cancelled. No request was made."))
    return ConversationHandler.END


async def stale_step(update: Update, context: DaifuContext) -> None:
    _locale, _ = await speak(update, context)
    if update.callback_query is not None:
        await update.callback_query.answer(
            _("That step is out of date. Open the order again to ask a friend."), show_alert=True
        )


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    conversation = persistent_conversation(
        "ask_friend",
        entry_points=[CallbackQueryHandler(start_asking, pattern=f"^{ENTRY}:(one|split):")],
        states={
            SHARES: [CallbackQueryHandler(got_shares, pattern=f"^{STEP}:n:[0-9]+$")],
            NOTE: [
                MessageHandler(filters.TEXT & ~filters.COMMAND, got_note),
                CallbackQueryHandler(got_note, pattern=f"^{STEP}:skip$"),
            ],
        },
        fallbacks=[CallbackQueryHandler(cancel, pattern=f"^{STEP}:cancel$"), CommandHandler("cancel", cancel)],
    )
    return [conversation, CallbackQueryHandler(stale_step, pattern=f"^{STEP}:")]
