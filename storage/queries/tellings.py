"""The tellings outbox (what people must be told): recording rows, the leases the teller holds on them, and what
the rows tell of.

Core statements built once (storage's rule): every payment records rows, and every row is claimed, kept and
marked done (storage.queries.done_marks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col
from sqlmodel import select as orm_select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.database import run_core
from storage.models import Order, OrphanCharge, Payment, PayRequest, Refund, Telling

_table = Telling.__table__  # type: ignore[attr-defined]
# What a claimed row carries to its teller: the row as recorded, and its lease.
_CLAIMED = [column for column in _table.c if column.name not in ("created_at", "attempts", "last_error", "done_at")]
# One INSERT of all the rows of a change (SQLAlchemy sends a set of parameters as one multi-row statement), the
# ids back in the order given.
_RECORD = insert(_table).returning(_table.c.id, sort_by_parameter_order=True)
_KEEP = (
    update(_table)
    .where(
        _table.c.id.in_(bindparam("ids", expanding=True)),
        _table.c.claimed_until == bindparam("mine"),
        _table.c.done_at.is_(None),
    )
    .values(claimed_until=bindparam("until"))
    .returning(_table.c.id)
)
_RELEASE = (
    update(_table)
    .where(_table.c.id.in_(bindparam("ids", expanding=True)), _table.c.done_at.is_(None))
    .values(claimed_until=bindparam("now"))
)
_FAILED = (
    update(_table)
    .where(_table.c.id == bindparam("w_id"))
    .values(attempts=_table.c.attempts + 1, last_error=bindparam("error"), claimed_until=bindparam("retry_at"))
    .returning(_table.c.attempts)
)
_GAVE_UP = update(_table).where(_table.c.id == bindparam("w_id")).values(last_error=bindparam("error"))
_CLAIMABLE = (
    _table.c.done_at.is_(None),
    _table.c.claimed_until <= bindparam("now"),
    _table.c.attempts < bindparam("tries"),  # parked: left for someone to look at
    _table.c.created_at > bindparam("oldest"),
)
# Two workers sweeping at once: on PostgreSQL each skips the rows the other is claiming (SKIP LOCKED), and the
# lease is checked again on the row itself; SQLite runs one writer at a time.
_CLAIM_DUE = (
    update(_table)
    .where(
        _table.c.id.in_(
            select(_table.c.id)
            .where(*_CLAIMABLE)
            .order_by(_table.c.id)
            .limit(bindparam("limit"))
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        ),
        *_CLAIMABLE,
    )
    .values(claimed_until=bindparam("until"))
    .returning(*_CLAIMED)
)


async def record_tellings(session: AsyncSession, *, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Insert the rows in the session's transaction; their ids, in the order given."""
    return [row_id for (row_id,) in (await run_core(session, _RECORD, rows)).all()]


async def claim_due(
    session: AsyncSession, *, now: datetime, made_after: datetime, below_tries: int, limit: int, until: datetime
) -> list[RowMapping]:
    """Claim (until `until`) rows not done, whose lease ran out, tried fewer than below_tries times and made after
    made_after: each with its columns as recorded and its lease."""
    params = {"now": now, "oldest": made_after, "tries": below_tries, "limit": limit, "until": until}
    return [row._mapping for row in (await run_core(session, _CLAIM_DUE, params)).all()]


async def keep_leases(connection: AsyncConnection, *, ids: Sequence[int], mine: datetime, until: datetime) -> set[int]:
    """Renew the lease on the rows not done and still held until `mine`; the ids of those renewed."""
    params = {"ids": list(ids), "mine": mine, "until": until}
    return {row_id for (row_id,) in (await connection.execute(_KEEP, params)).all()}


async def release_tellings(connection: AsyncConnection, *, ids: Sequence[int], now: datetime) -> None:
    """Let the rows not done be claimed at once."""
    await connection.execute(_RELEASE, {"ids": list(ids), "now": now})


async def count_failure(connection: AsyncConnection, *, row_id: int, error: str, retry_at: datetime) -> int | None:
    """A try that failed: counted, with its error, and the row held until retry_at; the tries so far."""
    params = {"w_id": row_id, "error": error, "retry_at": retry_at}
    attempts: int | None = (await connection.execute(_FAILED, params)).scalar_one_or_none()
    return attempts


async def note_given_up(connection: AsyncConnection, *, row_id: int, why: str) -> None:
    await connection.execute(_GAVE_UP, {"w_id": row_id, "error": why})


async def count_parked(session: AsyncSession, *, attempts: int) -> int:
    """Rows not done that failed `attempts` times or more: no longer claimed, kept for someone to look into."""
    statement = (
        orm_select(func.count())
        .select_from(Telling)
        .where(col(Telling.done_at).is_(None), col(Telling.attempts) >= attempts)
    )
    return int((await session.exec(statement)).one())


# What the rows tell of, read for many rows at once (an expanding IN): one statement per kind of thing.
_CHARGES = (
    orm_select(Payment, Order, PayRequest)
    .join(Order, col(Order.id) == col(Payment.order_id))
    .outerjoin(PayRequest, col(PayRequest.id) == col(Payment.request_id))
    .where(col(Payment.id).in_(bindparam("ids", expanding=True)))
)
_REFUNDS = (
    orm_select(Refund, Payment, Order)
    .join(Payment, col(Payment.id) == col(Refund.payment_id))
    .join(Order, col(Order.id) == col(Payment.order_id))
    .where(col(Refund.id).in_(bindparam("ids", expanding=True)))
)
_REQUESTS = (
    orm_select(PayRequest, Order)
    .join(Order, col(Order.id) == col(PayRequest.order_id))
    .where(col(PayRequest.id).in_(bindparam("ids", expanding=True)))
)
_ORPHANS = orm_select(OrphanCharge).where(col(OrphanCharge.id).in_(bindparam("ids", expanding=True)))


async def charges(
    session: AsyncSession, *, payment_ids: set[int]
) -> Sequence[tuple[Payment, Order, PayRequest | None]]:
    """The charges, each with its order and the request it paid (if any)."""
    return (await session.exec(_CHARGES, params={"ids": sorted(payment_ids)})).all()


async def refunds(session: AsyncSession, *, refund_ids: set[int]) -> Sequence[tuple[Refund, Payment, Order]]:
    """The refunds, each with the payment it gives back and its order."""
    return (await session.exec(_REFUNDS, params={"ids": sorted(refund_ids)})).all()


async def requests(session: AsyncSession, *, request_ids: set[int]) -> Sequence[tuple[PayRequest, Order]]:
    """The requests, each with its order."""
    return (await session.exec(_REQUESTS, params={"ids": sorted(request_ids)})).all()


async def orphan_charges(session: AsyncSession, *, orphan_ids: set[int]) -> Sequence[OrphanCharge]:
    return (await session.exec(_ORPHANS, params={"ids": sorted(orphan_ids)})).all()


async def told_since(session: AsyncSession, *, kind: str, detail: str, payment_id: int | None, since: datetime) -> bool:
    """Whether a row of this kind and detail, about this payment (None: about none), was recorded since then.
    For /paysupport's notes to the admins (detail: who asked), which are rare: no index of their own."""
    about = col(Telling.payment_id).is_(None) if payment_id is None else col(Telling.payment_id) == payment_id
    statement = (
        orm_select(Telling.id)
        .where(
            col(Telling.kind) == kind,
            col(Telling.detail) == detail,
            about,
            col(Telling.created_at) > since,
        )
        .limit(1)
    )
    return (await session.exec(statement)).first() is not None
