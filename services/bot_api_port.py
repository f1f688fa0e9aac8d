"""What the web side asks of Telegram's Bot API for the Mini App: an invoice link, a request's card prepared for
the app's share sheet, and the chat's reminder to a request's friends. A Protocol here, implemented in bot/ over
PTB's Bot and injected, so that neither web/ nor services/ holds a PTB object."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from services.pay_requests import RequestView
from services.providers import InvoiceSpec
from services.read_models import LiveMessageInfo


class TelegramUnavailable(Exception):
    """Telegram did not take the call (refused it, or did not answer): nothing the person can fix but trying again."""


class BotApiPort(Protocol):
    def bot_username(self) -> str:
        """The bot's @username, for the links it is opened by."""
        ...

    async def invoice_link(self, invoice: InvoiceSpec) -> str:
        """createInvoiceLink: a link the app's openInvoice shows Telegram's payment sheet for. The payload is the
        invoice's as the chat sends it, so pre-checkout and the successful payment are handled alike.
        TelegramUnavailable when Telegram does not make it."""
        ...

    async def prepared_card(self, user_id: int, view: RequestView) -> str | None:
        """savePreparedInlineMessage: the request's card as the inline share posts it, for the app's shareMessage;
        None when Telegram would not take it (the person can still share with switchInlineQuery)."""
        ...

    async def remind_friends(self, view: RequestView, offers: Iterable[LiveMessageInfo]) -> int:
        """The chat's reminder, replied under each friend's offer (services.friend_reminders found them and claimed
        the reminder); how many friends it reached. TelegramUnavailable when Telegram does not answer."""
        ...
