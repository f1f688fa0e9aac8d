"""The cards of pay-for-me requests: each message a request was shared as in a chat, remembered to redraw it."""

from __future__ import annotations

from sqlalchemy import bindparam
from sqlalchemy import insert as core_insert
from sqlalchemy import select as core_select

from services.pay_requests import is_request_token
from services.read_models import CardInfo
from storage.database import Database
from storage.models import PayRequest, RequestCard, utcnow

_requests = PayRequest.__table__  # type: ignore[attr-defined]
_cards = RequestCard.__table__  # type: ignore[attr-defined]
# A card is posted at every share: one statement, which finds the request by its token and writes the card.
_ADD_CARD = (
    core_insert(_cards)
    .from_select(
        ["request_id", "inline_message_id", "created_at"],
        core_select(
            _requests.c.id,
            bindparam("v_inline_message_id", type_=_cards.c.inline_message_id.type),
            bindparam("v_created_at", type_=_cards.c.created_at.type),
        ).where(_requests.c.token == bindparam("w_token")),
    )
    .returning(_cards.c.id, _cards.c.request_id)
)


class RequestCards:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add_card(self, token: str, *, inline_message_id: str) -> CardInfo | None:
        """Remember a card posted for the request (None if there is no such request)."""
        if not is_request_token(token):
            return None
        now = utcnow()
        async with self.db.alone() as connection:
            params = {"w_token": token, "v_inline_message_id": inline_message_id, "v_created_at": now}
            row = (await connection.execute(_ADD_CARD, params)).first()
        if row is None:
            return None
        card_id, request_id = row
        return CardInfo(card_id, request_id, inline_message_id, chat_id=None, message_id=None)
