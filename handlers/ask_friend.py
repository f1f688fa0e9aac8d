"""Ask a friend to pay: from an order card, with an optional note (and for a split, how many shares).

The step is kept in the database (services.flows), so a restart, or another worker, carries on mid-way.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from telegram import InlineKeyboardButton, Update
from telegram.ext import BaseHandler, CallbackQueryHandler

from handlers.callback_data import CallbackData, any_button_under
from handlers.common import speak
from handlers.context import DaifuContext, TextStep
from handlers.cosmetic import cosmetic
from handlers.guided_steps import step_buttons
from handlers.my_requests import send_share_kit
from presentation.texts import request_refusal, why_not
from services.flows import Flow
from services.i18n import Gettext
from services.orders import OrderNotPayable
from services.pay_requests import RequestRefused
from services.read_models import RequestMode

FLOW = "ask_friend"
SHARE_CHOICES = (2, 3, 4, 5, 6)
STEP = "askx"  # the first word of every step's button: askx:n:<shares>, askx:skip, askx:cancel


class AskMode(StrEnum):
    ONE = "one"  # one friend pays it all
    SPLIT = "split"  # friends chip in


@dataclass(frozen=True, slots=True)
class AskTap(CallbackData):
    """Ask a friend (or Split with friends) under an order card: ask:<one|split>:<order token>."""

    prefix: ClassVar[str] = "ask"
    mode: AskMode
    token: str


@dataclass(frozen=True, slots=True)
class SharesTap(CallbackData):
    """How many friends will chip in: askx:n:<shares>."""

    prefix: ClassVar[str] = f"{STEP}:n"
    shares: int


@dataclass(frozen=True, slots=True)
class SkipNoteTap(CallbackData):
    prefix: ClassVar[str] = f"{STEP}:skip"


@dataclass(frozen=True, slots=True)
class CancelAskingTap(CallbackData):
    prefix: ClassVar[str] = f"{STEP}:cancel"


async def start_asking(update: Update, context: DaifuContext) -> None:
    query = update.callback_query
    tap = AskTap.unpack(query.data) if query else None
    if query is None or tap is None:
        return
    _locale, _ = await speak(update, context)
    mode, token = tap.mode, tap.token
    try:
        await context.daifu.orders.payable(token)
    except OrderNotPayable as refusal:
        await query.answer(why_not(refusal.why, _), show_alert=True)
        return
    step = "shares" if mode == AskMode.SPLIT else "note"
    await context.daifu.flows.begin(query.from_user.id, FLOW, step, {"token": token, "mode": mode.value})
    await cosmetic(query.answer(), "answering Ask a friend")
    if mode == AskMode.SPLIT:
        buttons = [InlineKeyboardButton(str(n), callback_data=SharesTap(n).pack()) for n in SHARE_CHOICES]
        await context.bot.send_message(
            query.from_user.id,
            _("How many friends will chip in? Each gets an equal share to pay (or any part of what is left)."),
            reply_markup=step_buttons(CancelAskingTap(), _, [buttons]),
        )
        return
    await ask_for_note(context, query.from_user.id, _)


async def ask_for_note(context: DaifuContext, chat_id: int, _: Gettext) -> None:
    await context.bot.send_message(
        chat_id,
        _("Add a note for your friend (for example: happy birthday to me!), or skip it."),
        reply_markup=step_buttons(
            CancelAskingTap(), _, [[InlineKeyboardButton(_("Skip"), callback_data=SkipNoteTap().pack())]]
        ),
    )


async def got_shares(update: Update, context: DaifuContext) -> None:
    query = update.callback_query
    tap = SharesTap.unpack(query.data) if query else None
    assert query is not None and tap is not None
    _locale, _ = await speak(update, context)
    flows = context.daifu.flows
    flow = await flows.current(query.from_user.id)
    shares = tap.shares
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
    # The buttons go before the next step is said: whoever reads the chat never sees both steps live at once.
    await cosmetic(context.bot.take_buttons_off(query), "taking the share buttons off")
    await ask_for_note(context, query.from_user.id, _)


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
    await cosmetic(context.bot.take_buttons_off(query), "taking the note buttons off")
    await create(update, context, flow, "")


async def create(update: Update, context: DaifuContext, flow: Flow, note: str) -> None:
    locale, _ = await speak(update, context)
    user = update.effective_user
    daifu = context.daifu
    if user is None:
        return
    mode = RequestMode.SPLIT if flow.data["mode"] == AskMode.SPLIT else RequestMode.SINGLE
    try:
        view = await daifu.asking.ask(flow.data["token"], user.id, mode=mode, shares=flow.data.get("shares"), note=note)
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
        await cosmetic(context.bot.take_buttons_off(query), "taking the buttons off a cancelled request")


async def stale_step(update: Update, context: DaifuContext) -> None:
    _locale, _ = await speak(update, context)
    if update.callback_query is not None:
        await update.callback_query.answer(
            _("That step is out of date. Open the order again to ask a friend."), show_alert=True
        )


TEXT_STEPS: dict[str, TextStep] = {"note": typed_note}


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [
        CallbackQueryHandler(start_asking, pattern=AskTap.pattern()),
        CallbackQueryHandler(got_shares, pattern=SharesTap.pattern()),
        CallbackQueryHandler(skipped_note, pattern=SkipNoteTap.pattern()),
        CallbackQueryHandler(cancel, pattern=CancelAskingTap.pattern()),
        CallbackQueryHandler(stale_step, pattern=any_button_under(STEP)),
    ]
