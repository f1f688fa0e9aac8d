"""What no feature took: a tap on a button no handler knows, an unknown command in a private chat.

Registered last, in the features' own group, so PTB gives it only updates no feature matched (a later group
would see every update). Groups get no hint: a command meant for another bot is not ours to answer.
"""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, MessageHandler, filters

from handlers.common import speak
from handlers.context import DaifuContext
from handlers.cosmetic import cosmetic
from services.i18n import Gettext


def help_hint(_: Gettext) -> str:
    return _("I did not understand that. Send /help to see what I can do.")


async def unknown_button(update: Update, context: DaifuContext) -> None:
    """An old button (from a version of the bot that is gone) or forged data: answered, so it stops spinning."""
    query = update.callback_query
    if query is None:
        return
    _locale, _ = await speak(update, context)
    await cosmetic(query.answer(_("This button is no longer valid."), show_alert=True), "answering an unknown button")


async def unknown_command(update: Update, context: DaifuContext) -> None:
    _locale, _ = await speak(update, context)
    if update.effective_message is not None:
        await update.effective_message.reply_text(help_hint(_))


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [
        CallbackQueryHandler(unknown_button),
        MessageHandler(filters.COMMAND & filters.ChatType.PRIVATE, unknown_command),
    ]
