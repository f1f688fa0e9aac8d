"""Ask a friend to pay: from an order card, with an optional note (and for a split, how many shares).

The step is kept in the database (services.flows), so a restart, or another worker, carries on mid-way.
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
from telegram.ext import BaseHandler, CallbackQueryHandler

from handlers.common import speak
from handlers.context import DaifuContext, TextStep
from handlers.cosmetic import cosmetic
from presentation.formatting import esc
from presentation.texts import request_refusal, when, why_not
from services.flows import Flow
from services.i18n import Gettext
from services.links import deep_link, qr_png
from services.money import format_money
from services.orders import OrderNotPayable
from services.pay_requests import RequestRefused, RequestView
from storage.models import RequestMode

ENTRY = "ask"  # ask:<one|split>:<order token>
STEP = "askx"  # askx:skip | askx:cancel | askx:n:<shares>
FLOW = "ask_friend"
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
    """Everything the requester needs to pass the request on: chat picker, link, web page, and a QR code on a tap.

    The QR code is drawn only when asked for: most requests travel as a card in a chat, and a photo in every kit
    would cost a render and an upload each time for a code few people scan.
    """
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
            [InlineKeyboardButton(_("Show a QR code to scan"), callback_data=f"rq:qr:{view.request.token}")],
            [InlineKeyboardButton(_("Cancel request"), callback_data=f"rq:cancel:{view.request.token}")],
        ]
    )
    await context.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup)


async def send_request_qr(context: DaifuContext, chat_id: int, view: RequestView, _: Gettext) -> None:
    link = deep_link(context.bot.username, view.request.token)
    await context.bot.send_photo(chat_id, qr_png(link), caption=_("Let your friend scan this code with their phone."))


async def start_asking(update: Update, context: DaifuContext) -> None:
    query = update.callback_query
    if query is None or query.data is None:
        return
    _locale, _ = await speak(update, context)
    _prefix, mode, token = query.data.split(":", 2)
    try:
        await context.daifu.orders.payable(token)
    except OrderNotPayable as refusal:
        await query.answer(why_not(refusal.why, _), show_alert=True)
        return
    step = "shares" if mode == "split" else "note"
    await context.daifu.flows.begin(query.from_user.id, FLOW, step, {"token": token, "mode": mode})
    await cosmetic(query.answer(), "answering Ask a friend")
    if mode == "split":
        buttons = [InlineKeyboardButton(str(n), callback_data=f"{STEP}:n:{n}") for n in SHARE_CHOICES]
        await context.bot.send_message(
            query.from_user.id,
            _("How many friends will chip in? Each gets an equal share to pay (or any part of what is left)."),
            reply_markup=InlineKeyboardMarkup([buttons, cancel_row(_)]),
        )
        return
    await ask_for_note(context, query.from_user.id, _)


async def ask_for_note(context: DaifuContext, chat_id: int, _: Gettext) -> None:
    await context.bot.send_message(
        chat_id,
        _("Add a note for your friend (for example: happy birthday to me!), or skip it."),
        reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton(_("Skip"), callback_data=f"{STEP}:skip")], cancel_row(_)]
        ),
    )


async def got_shares(update: Update, context: DaifuContext) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    _locale, _ = await speak(update, context)
    flows = context.daifu.flows
    flow = await flows.current(query.from_user.id)
    shares = int(query.data.rpartition(":")[2])
    if (
        flow is None
        or flow.name != FLOW
        or not await flows.advance(
            query.from_user.id, FLOW, from_step="shares", to_step="note", data=flow.data | {"shares": shares}
        )
    ):
        await stale_step(update, context)
        return
    await cosmetic(query.answer(), "answering a number of shares")
    await ask_for_note(context, query.from_user.id, _)
    await cosmetic(query.edit_message_reply_markup(None), "taking the share buttons off")


async def typed_note(update: Update, context: DaifuContext, flow: Flow) -> None:
    message, user = update.effective_message, update.effective_user
    # Ending the flow is the claim: a note sent twice makes one request, not two.
    if user is None or not await context.daifu.flows.end(user.id, FLOW, at_step="note"):
        return
    await create(update, context, flow, (message.text if message else "") or "")


async def skipped_note(update: Update, context: DaifuContext) -> None:
    query, user = update.callback_query, update.effective_user
    if query is None or user is None:
        return
    flow = await context.daifu.flows.take(user.id, FLOW, at_step="note")  # the claim: a double tap asks once
    if flow is None:
        await stale_step(update, context)
        return
    await cosmetic(query.answer(), "answering Skip")
    await create(update, context, flow, "")
    await cosmetic(query.edit_message_reply_markup(None), "taking the note buttons off")


async def create(update: Update, context: DaifuContext, flow: Flow, note: str) -> None:
    locale, _ = await speak(update, context)
    user = update.effective_user
    daifu = context.daifu
    if user is None:
        return
    mode = RequestMode.SPLIT if flow.data["mode"] == "split" else RequestMode.SINGLE
    try:
        view = await daifu.requests.ask(
            flow.data["token"], user.id, mode=mode, shares=flow.data.get("shares"), note=note
        )
    except OrderNotPayable as refusal:
        await context.bot.send_message(user.id, why_not(refusal.why, _))
        return
    except RequestRefused as refusal:
        await context.bot.send_message(user.id, request_refusal(refusal, locale, _))
        return
    await send_share_kit(context, user.id, view, locale, _)


async def cancel(update: Update, context: DaifuContext) -> None:
    _locale, _ = await speak(update, context)
    user = update.effective_user
    if user is None or not await context.daifu.flows.end(user.id, FLOW):
        await stale_step(update, context)
        return
    query = update.callback_query
    if query is not None:
        await cosmetic(query.answer(), "answering Cancel")
    await context.bot.send_message(user.id, _("Cancelled. No request was made."))
    if query is not None:
        await cosmetic(query.edit_message_reply_markup(None), "taking the buttons off a cancelled request")


async def stale_step(update: Update, context: DaifuContext) -> None:
    _locale, _ = await speak(update, context)
    if update.callback_query is not None:
        await update.callback_query.answer(
            _("That step is out of date. Open the order again to ask a friend."), show_alert=True
        )


TEXT_STEPS: dict[str, TextStep] = {"note": typed_note}


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [
        CallbackQueryHandler(start_asking, pattern=f"^{ENTRY}:(one|split):"),
        CallbackQueryHandler(got_shares, pattern=f"^{STEP}:n:[0-9]+$"),
        CallbackQueryHandler(skipped_note, pattern=f"^{STEP}:skip$"),
        CallbackQueryHandler(cancel, pattern=f"^{STEP}:cancel$"),
        CallbackQueryHandler(stale_step, pattern=f"^{STEP}:"),
    ]
