"""Guided flows (newlink, asking friends, typing a chip-in amount) as persistent ConversationHandlers."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from telegram.ext import BaseHandler, ConversationHandler
from telegram.warnings import PTBUserWarning

Handlers = Sequence[BaseHandler[Any, Any, Any]]


def persistent_conversation(
    name: str, *, entry_points: Handlers, states: dict[object, Handlers], fallbacks: Handlers
) -> ConversationHandler[Any]:
    """A conversation whose step is kept by the SQLModel persistence, so a restart carries on mid-way."""
    with warnings.catch_warnings():
        # PTB warns that with per_message=False callback queries are tracked per chat and user, not per
        # message: exactly what these one-flow-per-person conversations want.
        warnings.simplefilter("ignore", PTBUserWarning)
        return ConversationHandler(
            entry_points=list(entry_points),
            states={state: list(handlers) for state, handlers in states.items()},
            fallbacks=list(fallbacks),
            name=name,
            persistent=True,
            allow_reentry=True,
        )
