"""/whoami: the person's Telegram user id, and whether they are one of the shop's admins.

Whoever sets daifu up needs their own id for ADMIN_IDS, and Telegram's apps do not show it: the bot tells them."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import BaseHandler, CommandHandler

from handlers.common import speak, your_id
from handlers.context import DaifuContext


async def whoami(update: Update, context: DaifuContext) -> None:
    user, message = update.effective_user, update.effective_message
    if user is None or message is None:
        return
    _locale, _ = await speak(update, context)
    if context.daifu.rules.is_admin(user.id):
        text = _("Your Telegram user id is <code>{user_id}</code>. You are one of this shop's admins.").format(
            user_id=user.id
        )
    else:
        text = your_id(_, user.id)
    await message.reply_text(text, parse_mode=ParseMode.HTML)


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [CommandHandler("whoami", whoami)]
