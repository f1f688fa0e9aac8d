"""/language: choose English or 简体中文; the choice wins over the Telegram app's language."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from handlers.callback_data import CallbackData
from handlers.common import speak
from handlers.context import DaifuContext
from services.i18n import LOCALE_NAMES, gettext_for


@dataclass(frozen=True, slots=True)
class LanguageTap(CallbackData):
    """lang:<locale>, one of LOCALE_NAMES (another is answered and changes nothing)."""

    prefix: ClassVar[str] = "lang"
    locale: str


async def ask_language(update: Update, context: DaifuContext) -> None:
    _locale, _ = await speak(update, context)
    buttons = [
        [InlineKeyboardButton(name, callback_data=LanguageTap(code).pack())] for code, name in LOCALE_NAMES.items()
    ]
    if update.effective_message:
        await update.effective_message.reply_text(
            _("Choose your language:"), reply_markup=InlineKeyboardMarkup(buttons)
        )


async def set_language(update: Update, context: DaifuContext) -> None:
    query = update.callback_query
    tap = LanguageTap.unpack(query.data) if query else None
    if query is None or tap is None or update.effective_user is None:
        return
    await speak(update, context)  # makes sure the person is stored before the choice is
    locale = tap.locale
    if not await context.daifu.users.choose_locale(update.effective_user.id, locale):
        await query.answer()
        return
    _ = gettext_for(locale)
    await query.answer()
    await query.edit_message_text(_("I will speak English with you from now on."))


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [
        CommandHandler("language", ask_language),
        CallbackQueryHandler(set_language, pattern=LanguageTap.pattern()),
    ]
