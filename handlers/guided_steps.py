"""The buttons of a guided step (/newlink's, asking a friend's, typing a chip-in): its own, then Cancel, always.

Every prompt has a way out: a step's keyboard is built here, so none is sent without its Cancel row.
"""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from handlers.callback_data import CallbackData
from services.i18n import Gettext


def step_buttons(
    cancel: CallbackData, _: Gettext, rows: Sequence[Sequence[InlineKeyboardButton]] = ()
) -> InlineKeyboardMarkup:
    """The step's own rows of buttons, then one Cancel button carrying the flow's cancel tap."""
    return InlineKeyboardMarkup([*rows, [InlineKeyboardButton(_("Cancel"), callback_data=cancel.pack())]])
