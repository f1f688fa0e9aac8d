"""The cards of pay-for-me requests: each message a request was shared as in a chat, remembered to redraw it."""

from __future__ import annotations

from services.pay_requests import is_request_token
from services.read_models import CardInfo
from storage.database import Database
from storage.models import utcnow
from storage.queries.request_cards import add_card


class RequestCards:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add_card(self, token: str, *, inline_message_id: str) -> CardInfo | None:
        """Remember a card posted for the request (None if there is no such request)."""
        if not is_request_token(token):
            return None
        now = utcnow()
        async with self.db.alone() as connection:
            added = await add_card(connection, token=token, inline_message_id=inline_message_id, at=now)
        if added is None:
            return None
        card_id, request_id = added
        return CardInfo(card_id, request_id, inline_message_id, chat_id=None, message_id=None)
