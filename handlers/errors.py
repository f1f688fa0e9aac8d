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
    if not isinstance(update, Update) or update.effective_user is None:
        return
    _ = gettext_for(await context.daifu.users.locale_of(update.effective_user.id))
    sorry = _("Sorry, something went wrong. Please try again.")
    if update.callback_query is not None:
        # Unanswered, the button would spin until Telegram gives up (refused if the handler answered already).
        with contextlib.suppress(TelegramError):
            await update.callback_query.answer(sorry)
    if update.effective_message is not None:
        with contextlib.suppress(TelegramError):
            await update.effective_message.reply_text(sorry)
