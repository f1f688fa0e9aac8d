"""Plain text and /cancel during a guided flow: the person's step is read from the database (services.flows)
and the text goes to that step, whichever worker receives it. Text no step waits for gets a hint to /help."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler, MessageHandler, filters

from handlers import admin_cancel, ask_friend, friend_pays, newlink, thanks
from handlers.common import speak
from handlers.context import DaifuContext, TextStep
from handlers.fallback import help_hint
from services.i18n import Gettext

TEXT_STEPS: dict[str, dict[str, TextStep]] = {
    newlink.FLOW: newlink.TEXT_STEPS,
    ask_friend.FLOW: ask_friend.TEXT_STEPS,
    friend_pays.FLOW: friend_pays.TEXT_STEPS,
    thanks.FLOW: thanks.TEXT_STEPS,
}


def cancelled(flow: str, _: Gettext) -> str:
    return {
        newlink.FLOW: _("Cancelled. No link was created."),
        ask_friend.FLOW: _("Cancelled. No request was made."),
        friend_pays.FLOW: _("Cancelled. Nothing was paid."),
        thanks.FLOW: _("Cancelled. Nothing was sent."),
    }.get(flow, _("Cancelled."))


async def route_text(update: Update, context: DaifuContext) -> None:
    user, message = update.effective_user, update.effective_message
    if user is None or message is None:
        return
    flow = await context.daifu.flows.current(user.id)
    step = TEXT_STEPS.get(flow.name, {}).get(flow.step) if flow else None
    if flow is not None and step is not None:
        await step(update, context, flow)
    elif message.via_bot is None:  # a card the person posted through inline mode asks nothing
        # Text no step is waiting for: one line, so the person is not left wondering whether the bot works.
        _locale, _ = await speak(update, context)
        await message.reply_text(help_hint(_))


async def cancel_flow(update: Update, context: DaifuContext) -> None:
    """/cancel with nothing after it ends the flow in progress (/cancel ORDER is the admins' command)."""
    _locale, _ = await speak(update, context)
    user, message = update.effective_user, update.effective_message
    if user is None or message is None:
        return
    flow = await context.daifu.flows.current(user.id)
    if flow is None or not await context.daifu.flows.end(user.id, flow.name):
        if context.daifu.rules.is_admin(user.id):
            await admin_cancel.cancel_order(update, context)  # it explains /cancel ORDER
        else:
            await message.reply_text(_("Nothing to cancel."))
        return
    await message.reply_text(cancelled(flow.name, _))


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [
        MessageHandler(filters.TEXT & ~filters.COMMAND & filters.ChatType.PRIVATE, route_text),
        CommandHandler("cancel", cancel_flow, has_args=False),
    ]
