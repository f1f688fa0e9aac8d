"""The cards of pay-for-me requests (request_cards): each message a request was shared as in a chat."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import RowMapping, bindparam
from sqlalchemy import insert as core_insert
from sqlalchemy import select as core_select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.database import run_core
from storage.models import PayRequest, RequestCard

_requests = PayRequest.__table__  # type: ignore[attr-defined]
_cards = RequestCard.__table__  # type: ignore[attr-defined]
# A card is posted at every share: one statement, built once, which finds the request by its token and writes
# the card.
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
_CARDS_OF = core_select(_cards).where(_cards.c.request_id == bindparam("request_id"))


async def add_card(
    connection: AsyncConnection, *, token: str, inline_message_id: str, at: datetime
) -> tuple[int, int] | None:
    """Remember a card of the request with this token: (card id, request id); None if there is no such request."""
    params = {"w_token": token, "v_inline_message_id": inline_message_id, "v_created_at": at}
    row = (await connection.execute(_ADD_CARD, params)).first()
    return None if row is None else (row[0], row[1])


async def cards_of(session: AsyncSession, *, request_id: int) -> Sequence[RowMapping]:
    """The request's cards, read in Core at every redraw (storage.queries.pay_requests says why): their columns."""
    return (await run_core(session, _CARDS_OF, {"request_id": request_id})).mappings().all()
