"""A typed context: handlers reach daifu's services as `context.daifu`, not through dictionaries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

from telegram import Update
from telegram.ext import Application, CallbackContext

from handlers.daifu_bot import DaifuBot
from services.daifu import Daifu
from services.flows import Flow

DAIFU_KEY = "daifu"
# What a guided flow does with the person's next text message (see handlers.flow_router).
TextStep = Callable[[Update, "DaifuContext", Flow], Awaitable[None]]


class DaifuContext(CallbackContext[DaifuBot, dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    @property
    def daifu(self) -> Daifu:
        return cast(Daifu, self.application.bot_data[DAIFU_KEY])


def attach(application: Application[Any, Any, Any, Any, Any, Any], daifu: Daifu) -> None:
    application.bot_data[DAIFU_KEY] = daifu
