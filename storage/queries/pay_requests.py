"""Pay-for-me requests (pay_requests): a request's hold and chip-in parts, conditional writes built once as a
friend's tap and Telegram's pre-checkout take them (the rule is in storage's docstring); and the open requests
that close, expire or want a reminder; a request read with its order (built once: read at every tap)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, func, or_
from sqlalchemy import select as core_select
from sqlalchemy import update as core_update
from sqlmodel import col, desc, select, update
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from storage.database import run_core
from storage.models import Order, PayRequest, RequestStatus
from storage.queries.crediting import STILL_OPEN

_requests = PayRequest.__table__  # type: ignore[attr-defined]
_moment = _requests.c.hold_until.type
_holds_it_now = (_requests.c.holder == bindparam("w_holder")) & (_requests.c.hold_until > bindparam("w_now"))
_lapsed = _requests.c.holder.is_(None) | (_requests.c.hold_until <= bindparam("w_now"))
# Renewing never moves a hold past the limit set when it was first taken.
_renewed_until = case(
    (_holds_it_now & (_requests.c.hold_limit < bindparam("v_hold_until", type_=_moment)), _requests.c.hold_limit),
    else_=bindparam("v_hold_until", type_=_moment),
)
_limit_kept = case(
    (
        _requests.c.holder == bindparam("w_holder"),
        func.coalesce(_requests.c.hold_limit, bindparam("v_hold_limit", type_=_moment)),
    ),
    else_=bindparam("v_hold_limit", type_=_moment),
)
# A friend takes the hold (or renews their own, up to its limit) only while the request is open and nobody else
# holds it. A holder whose hold ran to its limit may take it again only a hold's time later (w_spent_before):
# one browser posting again and again cannot keep friends out.
_TAKE_HOLD = (
    core_update(_requests)
    .where(
        *STILL_OPEN,
        _holds_it_now
        | _requests.c.holder.is_(None)
        | (
            (_requests.c.hold_until <= bindparam("w_now"))
            & (
                (_requests.c.holder != bindparam("w_holder"))
                | _requests.c.hold_limit.is_(None)
                | (_requests.c.hold_limit <= bindparam("w_spent_before"))
            )
        ),
    )
    .values(
        holder=bindparam("v_holder"),
        holder_name=bindparam("v_holder_name"),
        hold_until=_renewed_until,
        hold_limit=case((_holds_it_now, _limit_kept), else_=bindparam("v_hold_limit", type_=_moment)),
    )
)
# At Telegram's pre-checkout the payer is paying already: their own hold is renewed past its limit, as before.
_HOLD_TO_PAY = (
    core_update(_requests)
    .where(*STILL_OPEN, _lapsed | (_requests.c.holder == bindparam("w_holder")))
    .values(
        holder=bindparam("v_holder"),
        holder_name=bindparam("v_holder_name"),
        hold_until=bindparam("v_hold_until"),
        hold_limit=_limit_kept,
    )
)
_OPEN_REQUESTS_OF = (
    core_select(func.count())
    .select_from(_requests)
    .where(
        _requests.c.requester_id == bindparam("requester_id"),
        _requests.c.status == RequestStatus.OPEN.value,
        _requests.c.expires_at > bindparam("now"),
    )
)


async def take_hold(
    session: AsyncSession,
    *,
    request_id: int,
    holder: str,
    holder_name: str,
    now: datetime,
    hold_until: datetime,
    hold_limit: datetime,
    spent_before: datetime | None,
) -> bool:
    """Take or renew the hold; with spent_before None, to pay an invoice sent already (_HOLD_TO_PAY). True if
    granted."""
    params = {
        "w_id": request_id,
        "w_now": now,
        "w_holder": holder,
        "v_holder": holder,
        "v_holder_name": holder_name,
        "v_hold_until": hold_until,
        "v_hold_limit": hold_limit,
    }
    if spent_before is not None:
        params["w_spent_before"] = spent_before
    granted = await run_core(session, _HOLD_TO_PAY if spent_before is None else _TAKE_HOLD, params)
    return bool(granted.rowcount == 1)


async def release_hold(session: AsyncSession, *, request_id: int, holder: str) -> None:
    await session.exec(
        update(PayRequest)
        .where(col(PayRequest.id) == request_id, col(PayRequest.holder) == holder)
        .values(holder=None, holder_name=None, hold_until=None)
    )


async def lock_open_request(session: AsyncSession, *, request_id: int, now: datetime) -> PayRequest | None:
    """Lock the request's row while it is open and not past its time, and read it as it is now; None if it
    closed."""
    locked = await session.exec(
        update(PayRequest)
        .where(
            col(PayRequest.id) == request_id,
            col(PayRequest.status) == RequestStatus.OPEN,
            col(PayRequest.expires_at) > now,
        )
        .values(covered_minor=col(PayRequest.covered_minor))
    )
    if locked.rowcount != 1:
        return None
    return await session.get(PayRequest, request_id, populate_existing=True)


async def open_requests_of(session: AsyncSession, *, requester_id: int, now: datetime) -> int:
    counted = await run_core(session, _OPEN_REQUESTS_OF, {"requester_id": requester_id, "now": now})
    return int(counted.one()[0])


async def open_requests_of_order(session: AsyncSession, *, order_id: int) -> list[int]:
    statement = select(PayRequest.id).where(PayRequest.order_id == order_id, PayRequest.status == RequestStatus.OPEN)
    return [request_id for request_id in (await session.exec(statement)).all() if request_id is not None]


async def open_requests_past_time(session: AsyncSession, *, now: datetime) -> list[int]:
    """Requests still open whose time ran out by now: the expiry job closes them."""
    statement = select(PayRequest.id).where(PayRequest.status == RequestStatus.OPEN, col(PayRequest.expires_at) <= now)
    return [request_id for request_id in (await session.exec(statement)).all() if request_id is not None]


async def close_open_request(session: AsyncSession, *, request_id: int, status: RequestStatus) -> bool:
    """Whether the request, open until now, was closed with this status (its hold released)."""
    closed = await session.exec(
        update(PayRequest)
        .where(col(PayRequest.id) == request_id, col(PayRequest.status) == RequestStatus.OPEN)
        .values(status=status, holder=None, holder_name=None, hold_until=None)
    )
    return bool(closed.rowcount == 1)


async def requests_to_remind(session: AsyncSession, *, now: datetime, expiring_by: datetime) -> list[int]:
    """Open requests whose requester was not reminded yet, expiring after now but by the moment."""
    statement = select(PayRequest.id).where(
        PayRequest.status == RequestStatus.OPEN,
        col(PayRequest.reminded_at).is_(None),
        col(PayRequest.expires_at) > now,
        col(PayRequest.expires_at) <= expiring_by,
    )
    return [request_id for request_id in (await session.exec(statement)).all() if request_id is not None]


async def claim_reminder(session: AsyncSession, *, request_id: int, now: datetime) -> bool:
    """Whether the request's one reminder is this worker's to send."""
    claimed = await session.exec(
        update(PayRequest)
        .where(col(PayRequest.id) == request_id, col(PayRequest.reminded_at).is_(None))
        .values(reminded_at=now)
    )
    return bool(claimed.rowcount == 1)


async def claim_friends_reminder(
    session: AsyncSession, *, request_id: int, requester_id: int, now: datetime, quiet_since: datetime
) -> bool:
    """Whether the requester may have their friends reminded of this open request now (not since quiet_since)."""
    claimed = await session.exec(
        update(PayRequest)
        .where(
            col(PayRequest.id) == request_id,
            col(PayRequest.requester_id) == requester_id,
            col(PayRequest.status) == RequestStatus.OPEN,
            col(PayRequest.expires_at) > now,
            or_(col(PayRequest.friends_reminded_at).is_(None), col(PayRequest.friends_reminded_at) <= quiet_since),
        )
        .values(friends_reminded_at=now)
    )
    return bool(claimed.rowcount == 1)


async def requests_of_for_orders(
    session: AsyncSession, *, requester_id: int, order_ids: Collection[int]
) -> list[PayRequest]:
    """The person's requests for these orders, oldest first."""
    statement = (
        select(PayRequest)
        .where(col(PayRequest.requester_id) == requester_id, col(PayRequest.order_id).in_(order_ids))
        .order_by(col(PayRequest.id))
    )
    return list((await session.exec(statement)).all())


def _with_order() -> Select[PayRequest, Order]:
    """A request with its order, in one query."""
    return select(PayRequest, Order).join(Order, col(Order.id) == col(PayRequest.order_id))


# A request is read with its order several times for each tap and payment: in Core (the ORM's part of loading two
# objects costs more CPU than the rest of the read, bench.db_floor), built once (building one, and its cache key,
# costs about as much CPU as SQLAlchemy's part of running it).
_orders = Order.__table__  # type: ignore[attr-defined]
_REQUEST_LABELS = [(f"r_{column.name}", column.name) for column in _requests.c]
_ORDER_LABELS = [(f"o_{column.name}", column.name) for column in _orders.c]
_WITH_ORDER_COLUMNS = core_select(
    *[_requests.c[name].label(label) for label, name in _REQUEST_LABELS],
    *[_orders.c[name].label(label) for label, name in _ORDER_LABELS],
).join_from(_requests, _orders, _orders.c.id == _requests.c.order_id)
_WITH_ORDER_BY_TOKEN = _WITH_ORDER_COLUMNS.where(_requests.c.token == bindparam("key"))
_WITH_ORDER_BY_ID = _WITH_ORDER_COLUMNS.where(_requests.c.id == bindparam("key"))

Columns = dict[str, Any]


async def request_with_order(session: AsyncSession, *, key: str | int) -> tuple[Columns, Columns] | None:
    """The request with its order, by its token (a str) or its id (an int): the columns of each, by name."""
    which = _WITH_ORDER_BY_TOKEN if isinstance(key, str) else _WITH_ORDER_BY_ID
    row = (await run_core(session, which, {"key": key})).mappings().first()
    if row is None:
        return None
    return {name: row[label] for label, name in _REQUEST_LABELS}, {name: row[label] for label, name in _ORDER_LABELS}


async def request_by_token(session: AsyncSession, *, token: str) -> PayRequest | None:
    return (await session.exec(select(PayRequest).where(PayRequest.token == token))).first()


async def newest_requests_of(session: AsyncSession, *, requester_id: int, limit: int) -> list[tuple[PayRequest, Order]]:
    """The person's requests with their orders, newest first."""
    newest = (
        _with_order()
        .where(PayRequest.requester_id == requester_id)
        .order_by(desc(PayRequest.created_at), desc(PayRequest.id))
        .limit(limit)
    )
    return [(request, order) for request, order in (await session.exec(newest)).all()]
