"""The last resort: log what a handler raised, and tell the person something went wrong."""

from __future__ import annotations

import contextlib
import logging

from telegram import Update
from telegram.error import TelegramError

from handlers.context import DaifuContext
from services.i18n import gettext_for

log = logging.getLogger(__name__)


async def on_error(update: object, context: DaifuContext) -> None:
    log.error("handler failed for update %s", getattr(update, "update_id", update), exc_info=context.error)
    if isinstance(update, Update) and update.effective_message and update.effective_user:
        _ = gettext_for(await context.daifu.users.locale_of(update.effective_user.id))
        with contextlib.suppress(TelegramError):
            await update.effective_message.reply_text(_("Sorry, something went wrong. Please try again."))
