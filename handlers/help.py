"""/help: what daifu does and which commands there are."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import BaseHandler, CommandHandler

from handlers.common import speak
from handlers.context import DaifuContext
from services.i18n import Gettext


def help_text(_: Gettext) -> str:
    return "\n".join(
        [
            _("<b>daifu</b> lets you pay through this chat."),
            _("Open a checkout link or scan its QR code to see an order and pay it."),
            "",
            _("/my - your orders and payments"),
            _("/language - choose English or Chinese"),
            _("/help - this message"),
            _("/whoami - your Telegram user id (for ADMIN_IDS)"),
            _("Shop admins: /newlink - create a checkout link (e.g. /newlink 12.50 USD Coffee beans)"),
            _("Shop admins: /stats, /order, /orders, /refund, /cancel, /export, /providers, /apikey"),
        ]
    )


async def show_help(update: Update, context: DaifuContext) -> None:
    _locale, _ = await speak(update, context)
    if update.effective_message:
        await update.effective_message.reply_text(help_text(_), parse_mode=ParseMode.HTML)


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [CommandHandler("help", show_help)]
