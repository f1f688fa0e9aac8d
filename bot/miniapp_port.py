"""The Mini App's Bot API port (services.bot_api_port) over PTB's Bot: the web side asks, this calls Telegram."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from telegram.error import TelegramError
from telegram.ext import Application

from handlers.checkout import invoice_fields
from handlers.context import DaifuContext
from handlers.inline_share import card_result
from handlers.my_requests import nudge_friends
from services.bot_api_port import TelegramUnavailable
from services.i18n import gettext_for
from services.pay_requests import RequestView
from services.providers import InvoiceSpec
from services.read_models import LiveMessageInfo

log = logging.getLogger(__name__)


class PtbBotApi:
    def __init__(self, application: Application[Any, DaifuContext, Any, Any, Any, Any]) -> None:
        # A context of its own, as the teller has: the card is drawn by the chat's own code (handlers.request_cards).
        self.context = DaifuContext(application)

    def bot_username(self) -> str:
        return self.context.bot.username

    async def invoice_link(self, invoice: InvoiceSpec) -> str:
        # The chat's own invoice fields: the same payload, checked at pre-checkout and credited alike.
        try:
            return await self.context.bot.create_invoice_link(**invoice_fields(invoice))
        except TelegramError as error:
            log.warning("could not make an invoice link for checkout %s: %s", invoice.payload, error)
            raise TelegramUnavailable(str(error)) from error

    async def prepared_card(self, user_id: int, view: RequestView) -> str | None:
        # The card's own words are the requester's language (render_card); its title in the picker too.
        _ = gettext_for(await self.context.daifu.users.locale_of(view.request.requester_id))
        result = await card_result(self.context, view, _)
        try:
            prepared = await self.context.bot.save_prepared_inline_message(
                user_id, result, allow_user_chats=True, allow_group_chats=True
            )
        except TelegramError as error:
            log.warning("could not prepare the card of request %s for sharing: %s", view.request.id, error)
            return None
        return prepared.id

    async def remind_friends(self, view: RequestView, offers: Iterable[LiveMessageInfo]) -> int:
        try:  # a friend who blocked the bot is passed over inside; Telegram not answering at all ends it here
            return await nudge_friends(self.context.bot, view, offers)
        except TelegramError as error:
            log.warning("could not remind the friends of request %s: %s", view.request.id, error)
            raise TelegramUnavailable(str(error)) from error
