"""Messages that still offer to pay, share, cancel or chip in for an order or request (live_messages)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Integer, Table, bindparam, func, insert, literal, union_all
from sqlalchemy import select as select_columns
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import LiveMessage, Order, Payment, PayRequest

# A message is remembered at every message with buttons sent, its order's status read after it, and the order's
# messages read and forgotten at its end: these are built once, as building one (and its cache key) costs about
# as much CPU as SQLAlchemy's part of running it (bench.db_floor).
_TABLE: Table = LiveMessage.__table__  # type: ignore[attr-defined]
_ORDERS: Table = Order.__table__  # type: ignore[attr-defined]
_REQUESTS: Table = PayRequest.__table__  # type: ignore[attr-defined]
_COLUMNS = ("kind", "chat_id", "message_id", "inline_message_id", "order_id", "request_id", "checkout_ref", "locale")
_ADD = insert(_TABLE)
_ADD_FOR_CHECKOUT = (
    insert(_TABLE)
    .from_select(
        [*_COLUMNS, "text", "created_at"],
        select_columns(
            *(bindparam(name, type_=_TABLE.c[name].type) for name in ("kind", "chat_id", "message_id")),
            bindparam("inline_message_id", None, type_=_TABLE.c.inline_message_id.type),
            col(Payment.order_id),
            col(Payment.request_id),
            col(Payment.checkout_ref),
            *(bindparam(name, type_=_TABLE.c[name].type) for name in ("locale", "text", "created_at")),
        )
        # An invoice already paid needs no tidying (Telegram shows it paid): it is not remembered at all.
        .where(col(Payment.checkout_ref) == bindparam("checkout_ref"), col(Payment.credited).is_(False)),
    )
    .returning(_TABLE.c.order_id, _TABLE.c.request_id)
)
# Taken (deleted, their rows returned) by the one tidying that edits them: two tidyings of one order, one recorded
# by its payment and one by a message remembered just then, never both edit a message (or note an invoice twice).
_TAKE_OF_ORDER = delete(_TABLE).where(_TABLE.c.order_id == bindparam("key")).returning(*_TABLE.c)
_TAKE_OF_REQUEST = delete(_TABLE).where(_TABLE.c.request_id == bindparam("key")).returning(*_TABLE.c)


# The statuses of the orders and requests of the messages just written down, in one read.
_STATUSES = union_all(
    select_columns(literal("order"), _ORDERS.c.id, _ORDERS.c.status).where(
        _ORDERS.c.id.in_(bindparam("order_ids", expanding=True))
    ),
    select_columns(literal("request"), _REQUESTS.c.id, _REQUESTS.c.status).where(
        _REQUESTS.c.id.in_(bindparam("request_ids", expanding=True))
    ),
)
# What a tidying's status line says, in one read: the order, the charge that paid it (if the outbox row names one),
# and the request finished (if named) or the one that charge paid.
_SUBJECTS = (
    select(Order, Payment, PayRequest)
    .select_from(Order)
    .outerjoin(Payment, col(Payment.id) == bindparam("payment_id", type_=Integer))
    .outerjoin(
        PayRequest,
        col(PayRequest.id) == func.coalesce(bindparam("request_id", type_=Integer), col(Payment.request_id)),
    )
    .where(col(Order.id) == bindparam("order_id", type_=Integer))
)


def live_message_row(**values: Any) -> dict[str, Any]:
    """A row to remember: every column named, those not given as None (the statement is compiled once)."""
    return {name: None for name in (*_COLUMNS, "text")} | values


async def add_checkout_message(
    connection: AsyncConnection, *, checkout_ref: str, row: dict[str, Any]
) -> tuple[int, int | None] | None:
    """A message showing a checkout, remembered for the checkout's order and request, found in the same statement;
    the order and request ids, or None if no such checkout exists or it is paid already (nothing is written then)."""
    found = (await connection.execute(_ADD_FOR_CHECKOUT, row | {"checkout_ref": checkout_ref})).first()
    return None if found is None else (found[0], found[1])


async def add_live_messages(connection: AsyncConnection, *, rows: Sequence[dict[str, Any]]) -> None:
    """Several messages in one statement (each row as live_message_row makes it)."""
    if rows:
        await connection.execute(_ADD, list(rows))


async def subjects_finished(
    connection: AsyncConnection, *, order_ids: Collection[int], request_ids: Collection[int]
) -> tuple[dict[int, str], dict[int, str]]:
    """The statuses of these orders and requests, by id."""
    rows = await connection.execute(_STATUSES, {"order_ids": list(order_ids), "request_ids": list(request_ids)})
    statuses: dict[str, dict[int, str]] = {"order": {}, "request": {}}
    for which, subject_id, status in rows:
        statuses[which][subject_id] = str(status)
    return statuses["order"], statuses["request"]


async def tidying_subjects(
    session: AsyncSession, *, order_id: int, request_id: int | None, payment_id: int | None
) -> tuple[Order, PayRequest | None, Payment | None] | None:
    """The order, the request (the one named, else the one the charge paid) and the charge, as they are now."""
    params = {"order_id": order_id, "request_id": request_id, "payment_id": payment_id}
    found = (await session.exec(_SUBJECTS, params=params)).first()
    return None if found is None else (found[0], found[2], found[1])


async def take_live_messages(
    connection: AsyncConnection, *, order_id: int | None, request_id: int | None
) -> list[dict[str, Any]]:
    """Take the messages of the request, if one is named, else of the order (its requests' too); oldest first."""
    which, key = (_TAKE_OF_ORDER, order_id) if request_id is None else (_TAKE_OF_REQUEST, request_id)
    taken = (await connection.execute(which, {"key": key})).mappings().all()
    return sorted((dict(row) for row in taken), key=lambda row: row["id"])


async def live_messages_of_kind(session: AsyncSession, *, request_id: int, kind: str) -> list[LiveMessage]:
    """The request's messages of one kind still remembered (not tidied), oldest first."""
    statement = (
        select(LiveMessage)
        .where(col(LiveMessage.request_id) == request_id, col(LiveMessage.kind) == kind)
        .order_by(col(LiveMessage.id))
    )
    return list((await session.exec(statement)).all())
