""" "Say thanks": after a friend paid, the requester sends a short thank-you through the bot."""

from __future__ import annotations

from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import BaseHandler, CallbackQueryHandler

from handlers.common import esc, speak
from handlers.context import DaifuContext
from handlers.notices import THANKS_PREFIX
from services.i18n import Gettext, gettext_for


# Short messages to choose from: nothing to moderate, nothing for the bot to store.
def thank_you_lines(_: Gettext) -> list[str]:
    return [_("Thank you so much! 🙏"), _("You're the best! ❤️"), _("I owe you one! 🍵")]


def thanks_message(_: Gettext, name: str, choice: int) -> str:
    return _("💌 {name} says: {message}").format(name=esc(name), message=thank_you_lines(_)[choice])


async def offer_thanks(update: Update, context: DaifuContext) -> None:
    query, user = update.callback_query, update.effective_user
    if query is None or query.data is None or user is None:
        return
    _locale, _ = await speak(update, context)
    parts = query.data.split(":")
    payment_id = int(parts[1])
    payment = await context.daifu.requests.contribution(payment_id, requester_id=user.id)
    if payment is None or payment.payer_id is None:
        await query.answer(_("That button is out of date."), show_alert=True)
        return
    if len(parts) == 2:
        await query.answer()
        choices = [
            [InlineKeyboardButton(line, callback_data=f"{THANKS_PREFIX}:{payment_id}:{number}")]
            for number, line in enumerate(thank_you_lines(_))
        ]
        await query.edit_message_reply_markup(InlineKeyboardMarkup(choices))
        return
    choice = int(parts[2])
    if not 0 <= choice < len(thank_you_lines(_)):
        await query.answer()
        return
    # The payer reads it in their own language.
    text = thanks_message(gettext_for(await context.daifu.users.locale_of(payment.payer_id)), user.first_name, choice)
    await context.bot.send_message(payment.payer_id, text, parse_mode=ParseMode.HTML)
    await query.answer(_("Sent!"))
    await query.edit_message_reply_markup(None)


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [CallbackQueryHandler(offer_thanks, pattern=f"^{THANKS_PREFIX}:[0-9]+(:[0-9])?$")]
