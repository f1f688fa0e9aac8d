"""The buttons of a guided step (/newlink's, asking a friend's, typing a chip-in): its own, then Cancel, always.

Every prompt has a way out: a step's keyboard is built here, so none is sent without its Cancel row.
"""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from handlers.callback_data import CallbackData
from handlers.context import DaifuContext
from handlers.cosmetic import cosmetic
from services.i18n import Gettext


def step_buttons(
    cancel: CallbackData, _: Gettext, rows: Sequence[Sequence[InlineKeyboardButton]] = ()
) -> InlineKeyboardMarkup:
    """The step's own rows of buttons, then one Cancel button carrying the flow's cancel tap."""
    return InlineKeyboardMarkup([*rows, [InlineKeyboardButton(_("Cancel"), callback_data=cancel.pack())]])


async def cancel_step(
    update: Update, context: DaifuContext, flow: str, *, out_of_date: str, cancelled: str, what: str
) -> None:
    """A step's Cancel tap. Ending the flow is the claim: a second tap, or a tap on an older step, finds nothing
    to end and is told the step is out of date; the first is told what was cancelled and loses its buttons."""
    query, user = update.callback_query, update.effective_user
    if query is None or user is None:
        return
    if not await context.daifu.flows.end(user.id, flow):
        await query.answer(out_of_date, show_alert=True)
        return
    await cosmetic(query.answer(), "answering Cancel")
    await context.bot.send_message(user.id, cancelled)
    await cosmetic(context.bot.take_buttons_off(query), f"taking the buttons off {what}")
