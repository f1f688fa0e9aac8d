"""/language: choose English or 简体中文; the choice wins over the Telegram app's language."""

from __future__ import annotations

from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from handlers.common import speak
from handlers.context import DaifuContext
from services.i18n import LOCALE_NAMES, gettext_for

PREFIX = "lang"


async def ask_language(update: Update, context: DaifuContext) -> None:
    _locale, _ = await speak(update, context)
    buttons = [[InlineKeyboardButton(name, callback_data=f"{PREFIX}:{code}")] for code, name in LOCALE_NAMES.items()]
    if update.effective_message:
        await update.effective_message.reply_text(
            _("Choose your language:"), reply_markup=InlineKeyboardMarkup(buttons)
        )


async def set_language(update: Update, context: DaifuContext) -> None:
    query = update.callback_query
    if query is None or query.data is None or update.effective_user is None:
        return
    await speak(update, context)  # makes sure the person is stored before the choice is
    locale = query.data.partition(":")[2]
    if not await context.daifu.users.choose_locale(update.effective_user.id, locale):
        await query.answer()
        return
    _ = gettext_for(locale)
    await query.answer()
    await query.edit_message_text(_("I will speak English with you from now on."))


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [
        CommandHandler("language", ask_language),
        CallbackQueryHandler(set_language, pattern=f"^{PREFIX}:"),
    ]
