"""The reads and conditional writes every credited charge makes: its attempt found, the charge claimed, the
request it pays for covered or released and paid. Core statements built once (the rule is in storage's
docstring)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Update, bindparam
from sqlalchemy import update as core_update
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.database import keep_in_step, run_core
from storage.models import Order, Payment, PaymentStatus, PayRequest, RequestStatus

_ATTEMPT_TO_SETTLE = (
    select(Payment, Order, PayRequest)
    .join(Order, col(Order.id) == col(Payment.order_id))
    .outerjoin(PayRequest, col(PayRequest.id) == col(Payment.request_id))
    .where(col(Payment.checkout_ref) == bindparam("checkout_ref"), col(Payment.provider) == bindparam("provider"))
)
_CHARGE = select(Payment).where(
    col(Payment.provider) == bindparam("provider"), col(Payment.provider_ref) == bindparam("charge_ref")
)

_payments, _requests = Payment.__table__, PayRequest.__table__  # type: ignore[attr-defined]


@functools.cache
def _claim_charge(columns: tuple[str, ...]) -> Update:
    """The attempt becomes the charge, once: only while no charge was recorded on it."""
    return (
        core_update(_payments)
        .where(
            _payments.c.id == bindparam("w_id"),
            _payments.c.status.in_([PaymentStatus.PENDING.value, PaymentStatus.DECLINED.value]),
            _payments.c.provider_ref.is_(None),
        )
        .values({name: bindparam(f"v_{name}") for name in columns})
    )


# The request w_id, while it is open and not past its time at w_now (a condition of the writes that need it so).
STILL_OPEN = (
    _requests.c.id == bindparam("w_id"),
    _requests.c.status == RequestStatus.OPEN.value,
    _requests.c.expires_at > bindparam("w_now"),
)
# A chip-in counted into what the request has covered, only while that stays within the order's total.
_COVER_PART = (
    core_update(_requests)
    .where(*STILL_OPEN, _requests.c.covered_minor + bindparam("w_credit") <= bindparam("w_total"))
    .values(covered_minor=_requests.c.covered_minor + bindparam("w_credit"))
)
_RELEASED = {"holder": None, "holder_name": None, "hold_until": None}
_RELEASE_OPEN_REQUEST = core_update(_requests).where(*STILL_OPEN).values(_RELEASED)
_REQUEST_PAID = (
    core_update(_requests).where(_requests.c.id == bindparam("w_id")).values(status=RequestStatus.PAID.value)
)


async def attempt_to_settle(
    session: AsyncSession, *, checkout_ref: str, provider: str
) -> tuple[Payment, Order, PayRequest | None] | None:
    """The attempt a checkout opened, its order, and the request it pays for (None for an order's own)."""
    params = {"checkout_ref": checkout_ref, "provider": provider}
    found = (await session.exec(_ATTEMPT_TO_SETTLE, params=params)).first()
    return None if found is None else (found[0], found[1], found[2])


async def recorded_charge(session: AsyncSession, *, provider: str, charge_ref: str) -> Payment | None:
    params = {"provider": provider, "charge_ref": charge_ref}
    return (await session.exec(_CHARGE, params=params)).first()


async def claim_charge(session: AsyncSession, *, attempt_id: int, values: Mapping[str, Any]) -> bool:
    """Whether the attempt became the charge (with these values), and the session's object shows it."""
    claim: dict[str, Any] = {"w_id": attempt_id, **{f"v_{name}": value for name, value in values.items()}}
    claimed = await run_core(session, _claim_charge(tuple(values)), claim)
    if claimed.rowcount != 1:
        return False
    keep_in_step(session, Payment, attempt_id, dict(values))
    return True


async def cover_part(session: AsyncSession, *, request_id: int, now: datetime, credit: int, total: int) -> bool:
    """Whether the chip-in was counted into the open request, within the order's total."""
    cover = {"w_id": request_id, "w_now": now, "w_credit": credit, "w_total": total}
    return (await run_core(session, _COVER_PART, cover)).rowcount == 1


async def release_open_request(session: AsyncSession, *, request_id: int, now: datetime) -> bool:
    """Whether the open request's hold was released (and the session's object shows it)."""
    taken = await run_core(session, _RELEASE_OPEN_REQUEST, {"w_id": request_id, "w_now": now})
    if taken.rowcount != 1:
        return False
    keep_in_step(session, PayRequest, request_id, _RELEASED)
    return True


async def mark_request_paid(session: AsyncSession, *, request_id: int) -> None:
    await run_core(session, _REQUEST_PAID, {"w_id": request_id})
    keep_in_step(session, PayRequest, request_id, {"status": RequestStatus.PAID})


async def decline_attempt(session: AsyncSession, *, attempt_id: int, now: datetime) -> bool:
    """Whether the attempt, still pending, was marked declined (a late decline finds it paid or closed)."""
    declined = await session.exec(
        update(Payment)
        .where(col(Payment.id) == attempt_id, col(Payment.status) == PaymentStatus.PENDING)
        .values(status=PaymentStatus.DECLINED, declined_at=now)
    )
    return bool(declined.rowcount == 1)


async def release_request_hold(session: AsyncSession, *, request_id: int) -> None:
    """Whoever held the open request lets it go (their payment was declined)."""
    await session.exec(
        update(PayRequest)
        .where(col(PayRequest.id) == request_id, col(PayRequest.status) == RequestStatus.OPEN)
        .values(holder=None, holder_name=None, hold_until=None)
    )


async def uncredit_charge(session: AsyncSession, *, charge_id: int) -> None:
    """The charge is taken off the books' credit: it could not be credited and must go back."""
    await session.exec(update(Payment).where(col(Payment.id) == charge_id).values(credited=False))
