"""The per-person throttle, first of all handlers: a flooder's taps and messages stop here, after one "slow down".

Payments are never stopped (a pre-checkout query must be answered within ten seconds, a successful payment
must be recorded), nor inline queries and their chosen results (sharing a request to friends), nor anything
that is not a Telegram update.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop, TypeHandler

from handlers.common import speak
from handlers.context import DaifuContext
from services.person_throttle import PersonThrottle, Verdict

log = logging.getLogger(__name__)
# After the metrics' clock starts, before any feature. ApplicationHandlerStop skips every later group, the
# update journal's done marker included: a stopped update is marked done here instead.
GROUP = -10


def flooding_person(update: object) -> int | None:
    """Who an update counts against, or None for updates that are never throttled."""
    if not isinstance(update, Update):
        return None
    if update.callback_query is not None:
        return update.callback_query.from_user.id
    message = update.message
    if message is None or message.from_user is None:
        return None
    if message.successful_payment is not None or message.refunded_payment is not None:
        return None
    # In groups the bot answers only commands: other chatter there is not asking anything of it.
    if message.chat.type == ChatType.PRIVATE or (message.text or "").startswith("/"):
        return message.from_user.id
    return None


class UserThrottle:
    def __init__(self, throttle: PersonThrottle, mark_done: Callable[[int], None]) -> None:
        self.throttle = throttle
        self.mark_done = mark_done

    def handler(self) -> TypeHandler[Any, Any, Any]:
        return TypeHandler(Update, self.check)

    async def check(self, update: Update, context: DaifuContext) -> None:
        person = flooding_person(update)
        if person is None:
            return
        verdict = self.throttle.verdict(person)
        if verdict is Verdict.PASS:
            return
        self.mark_done(update.update_id)  # only journaled kinds get here: messages and callback queries
        if verdict is Verdict.WARN:
            log.warning("user %s is flooding the bot; ignored for %.0f s", person, self.throttle.pause)
            try:
                await self.slow_down(update, context)
            except Exception:  # the note is a courtesy: without it the update must still go no further
                log.exception("could not tell user %s to slow down", person)
        raise ApplicationHandlerStop

    async def slow_down(self, update: Update, context: DaifuContext) -> None:
        _locale, _ = await speak(update, context)
        note = _("Slow down, please: that is too many at once. I will answer again in {seconds} seconds.").format(
            seconds=round(self.throttle.pause)
        )
        if update.callback_query is not None:
            await update.callback_query.answer(note, show_alert=True)
        elif update.message is not None:
            await update.message.reply_text(note)
