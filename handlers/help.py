"""/help: what daifu does and the commands this person can use (the admins' too, for an admin)."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import BaseHandler, CommandHandler

from handlers.command_list import ADMIN_COMMANDS, command_lines, commands_for
from handlers.common import speak
from handlers.context import DaifuContext
from services.i18n import Gettext


def help_text(_: Gettext, *, admin: bool) -> str:
    lines = [
        _("<b>daifu</b> lets you pay through this chat."),
        _("Open a checkout link or scan its QR code to see an order and pay it."),
        "",
        *command_lines(_, commands_for(admin=False)),
    ]
    if admin:
        lines += ["", _("<b>For the shop's admins</b>"), *command_lines(_, ADMIN_COMMANDS)]
    return "\n".join(lines)


async def show_help(update: Update, context: DaifuContext) -> None:
    _locale, _ = await speak(update, context)
    user = update.effective_user
    admin = context.daifu.rules.is_admin(user.id if user else None)
    if update.effective_message:
        await update.effective_message.reply_text(help_text(_, admin=admin), parse_mode=ParseMode.HTML)


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [CommandHandler("help", show_help)]
