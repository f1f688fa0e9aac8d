""" "Say thanks": after a friend paid, the requester sends a short thank-you through the bot: one of a few
ready lines, or their own words (the step is kept in the database, like every guided flow)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import BaseHandler, CallbackQueryHandler

from handlers.callback_data import CallbackData
from handlers.common import speak, unless_unchanged
from handlers.context import DaifuContext, TextStep
from handlers.cosmetic import cosmetic
from handlers.guided_steps import cancel_step, step_buttons
from presentation.formatting import esc
from services.flows import Flow
from services.i18n import Gettext, gettext_for

FLOW = "thanks"  # the requester types their own thank-you
MAX_LENGTH = 300  # a thank-you, not a letter: the bot passes it on and keeps nothing of it


class ThanksPick(StrEnum):
    """One of the ready lines (thank_you_lines), or the requester's own words."""

    SO_MUCH = "0"
    THE_BEST = "1"
    OWE_YOU = "2"
    OWN_WORDS = "w"


@dataclass(frozen=True, slots=True)
class ThanksTap(CallbackData):
    """Say thanks under a friend's payment (ty:<payment id>), then what the requester picks (ty:<payment id>:<pick>)."""

    prefix: ClassVar[str] = "ty"
    payment_id: int
    pick: ThanksPick | None = None


@dataclass(frozen=True, slots=True)
class CancelThanksTap(CallbackData):
    """The requester will not write their own thank-you after all: tyc."""

    prefix: ClassVar[str] = "tyc"


def thank_you_lines(_: Gettext) -> dict[ThanksPick, str]:
    return {
        ThanksPick.SO_MUCH: _("Thank you so much! 🙏"),
        ThanksPick.THE_BEST: _("You're the best! ❤️"),
        ThanksPick.OWE_YOU: _("I owe you one! 🍵"),
    }


def thanks_message(_: Gettext, name: str, message: str) -> str:
    return _("💌 {name} says: {message}").format(name=esc(name), message=esc(message))


async def offer_thanks(update: Update, context: DaifuContext) -> None:
    query, user = update.callback_query, update.effective_user
    tap = ThanksTap.unpack(query.data) if query else None
    if query is None or tap is None or user is None:
        return
    _locale, _ = await speak(update, context)
    payment_id = tap.payment_id
    payment = await context.daifu.request_views.contribution(payment_id, requester_id=user.id)
    if payment is None or payment.payer_id is None:
        await query.answer(_("That button is out of date."), show_alert=True)
        return
    if tap.pick is None:
        await cosmetic(query.answer(), "answering Say thanks")
        choices = [
            [InlineKeyboardButton(line, callback_data=ThanksTap(payment_id, pick).pack())]
            for pick, line in thank_you_lines(_).items()
        ]
        own_words = ThanksTap(payment_id, ThanksPick.OWN_WORDS).pack()
        choices.append([InlineKeyboardButton(_("✏️ In my own words"), callback_data=own_words)])
        with unless_unchanged():  # a second tap asks for what the message shows already
            await query.edit_message_reply_markup(InlineKeyboardMarkup(choices))
        return
    if tap.pick == ThanksPick.OWN_WORDS:
        await context.daifu.flows.begin(user.id, FLOW, "text", {"payment_id": payment_id})
        await cosmetic(query.answer(), "answering In my own words")
        name = await context.daifu.users.name_of(payment.payer_id)
        await context.bot.send_message(
            user.id,
            _("Write your thank-you to {name} (up to {limit} characters), or /cancel.").format(
                name=name, limit=MAX_LENGTH
            ),
            reply_markup=step_buttons(CancelThanksTap(), _),
        )
        return
    # The payer reads a ready line in their own language.
    payer_speaks = gettext_for(await context.daifu.users.locale_of(payment.payer_id))
    text = thanks_message(payer_speaks, user.first_name, thank_you_lines(payer_speaks)[tap.pick])
    await context.bot.send_message(payment.payer_id, text, parse_mode=ParseMode.HTML)
    await cosmetic(query.answer(_("Sent!")), "answering a ready thank-you")
    await cosmetic(context.bot.take_buttons_off(query), "taking the thank-you buttons off")


async def typed_thanks(update: Update, context: DaifuContext, flow: Flow) -> None:
    _locale, _ = await speak(update, context)
    message, user = update.effective_message, update.effective_user
    if message is None or message.text is None or user is None:
        return
    words = " ".join(message.text.split())
    if len(words) > MAX_LENGTH:
        await message.reply_text(
            _("That is {length} characters; a thank-you here can have up to {limit}. Try a shorter one.").format(
                length=len(words), limit=MAX_LENGTH
            ),
            reply_markup=step_buttons(CancelThanksTap(), _),
        )
        return
    payment = await context.daifu.request_views.contribution(int(flow.data["payment_id"]), requester_id=user.id)
    # Ending the flow is the claim: the same words sent twice reach the friend once.
    if not await context.daifu.flows.end(user.id, FLOW, at_step="text"):
        return
    if payment is None or payment.payer_id is None:
        await message.reply_text(_("That button is out of date."))
        return
    payer_speaks = gettext_for(await context.daifu.users.locale_of(payment.payer_id))
    await context.bot.send_message(
        payment.payer_id, thanks_message(payer_speaks, user.first_name, words), parse_mode=ParseMode.HTML
    )
    name = await context.daifu.users.name_of(payment.payer_id)
    # The words reached the friend: a failed confirmation must not read as "try again" and send them twice.
    await cosmetic(message.reply_text(_("Sent to {name}!").format(name=name)), "confirming a thank-you")


async def cancel_thanks(update: Update, context: DaifuContext) -> None:
    _locale, _ = await speak(update, context)
    await cancel_step(
        update,
        context,
        FLOW,
        out_of_date=_("That step is out of date. Tap Say thanks again to write one."),
        cancelled=_("Cancelled. Nothing was sent."),
        what="a cancelled thank-you",
    )


TEXT_STEPS: dict[str, TextStep] = {"text": typed_thanks}


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [
        CallbackQueryHandler(offer_thanks, pattern=ThanksTap.pattern()),
        CallbackQueryHandler(cancel_thanks, pattern=CancelThanksTap.pattern()),
    ]
