"""Checkout attempts (payments not charged yet): as a tap and a pre-checkout query look for them, built once
since each is read at every tap or pre-checkout (the rule is in storage's docstring); and the pending ones that
closing an order declines and reconciliation asks the providers about; what other friends' attempts at a
request keep for them; the checkout kept with an attempt."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Order, Payment, PaymentStatus, PayRequest

# A payer's own open attempts at one order by one method: tapping Pay again shows the one they have.
_OPEN_ATTEMPTS = (
    select(Payment)
    .where(
        col(Payment.order_id) == bindparam("order_id"),
        col(Payment.provider) == bindparam("provider"),
        col(Payment.status) == PaymentStatus.PENDING,
    )
    .order_by(col(Payment.id).desc())
    .limit(20)
)
_OF_HOLDER = _OPEN_ATTEMPTS.where(
    col(Payment.holder) == bindparam("holder"), col(Payment.request_id) == bindparam("request_id")
)
# A shopper paying their own order on its web page: known by their browser, for no request.
_OF_WEB_SHOPPER = _OPEN_ATTEMPTS.where(col(Payment.holder) == bindparam("holder"), col(Payment.request_id).is_(None))
_OF_PAYER = _OPEN_ATTEMPTS.where(
    col(Payment.payer_id) == bindparam("payer_id"),
    col(Payment.holder).is_(None),
    col(Payment.request_id).is_(None),
)
_WITH_ORDER_AND_REQUEST = (
    select(Payment, Order, PayRequest)
    .join(Order, col(Order.id) == col(Payment.order_id))
    .outerjoin(PayRequest, col(PayRequest.id) == col(Payment.request_id))
    .where(col(Payment.checkout_ref) == bindparam("checkout_ref"))
)
# The invoice a request's group was shown, still pending: whoever in the group pays, pays that one.
_GROUP_INVOICE = select(Payment).where(
    col(Payment.request_id) == bindparam("request_id"),
    col(Payment.provider) == bindparam("provider"),
    col(Payment.payer_id).is_(None),
    col(Payment.status) == PaymentStatus.PENDING,
)


async def open_attempts_of_holder(
    session: AsyncSession, *, order_id: int, provider: str, holder: str, request_id: int | None
) -> list[Payment]:
    """A request's friend's pending attempts (as they hold it), or a web shopper's at their order (no request),
    newest first."""
    if request_id is None:
        keys: dict[str, object] = {"order_id": order_id, "provider": provider, "holder": holder}
        return list((await session.exec(_OF_WEB_SHOPPER, params=keys)).all())
    keys = {"order_id": order_id, "provider": provider, "holder": holder, "request_id": request_id}
    return list((await session.exec(_OF_HOLDER, params=keys)).all())


async def open_attempts_of_payer(
    session: AsyncSession, *, order_id: int, provider: str, payer_id: int
) -> list[Payment]:
    """A payer's own pending attempts at an order, not for a request, newest first."""
    keys = {"order_id": order_id, "provider": provider, "payer_id": payer_id}
    return list((await session.exec(_OF_PAYER, params=keys)).all())


async def attempt_with_order_and_request(
    session: AsyncSession, *, checkout_ref: str
) -> tuple[Payment, Order, PayRequest | None] | None:
    """The attempt an invoice's payload names, with its order and the request it pays for (if any), in one read."""
    row = (await session.exec(_WITH_ORDER_AND_REQUEST, params={"checkout_ref": checkout_ref})).first()
    return None if row is None else (row[0], row[1], row[2])


async def pending_group_invoice(session: AsyncSession, *, request_id: int, provider: str) -> Payment | None:
    found = await session.exec(_GROUP_INVOICE, params={"request_id": request_id, "provider": provider})
    return found.first()


async def pending_attempts_of_order(session: AsyncSession, *, order_id: int) -> list[Payment]:
    statement = select(Payment).where(Payment.order_id == order_id, Payment.status == PaymentStatus.PENDING)
    return list((await session.exec(statement)).all())


async def decline_pending_attempts(session: AsyncSession, *, order_id: int) -> None:
    """Every attempt at the order still pending is declined (the order closed)."""
    await session.exec(
        update(Payment)
        .where(col(Payment.order_id) == order_id, col(Payment.status) == PaymentStatus.PENDING)
        .values(status=PaymentStatus.DECLINED)
    )


def _unchecked_since(checked_before: datetime) -> Any:
    """Not asked about yet, or last asked about before the moment."""
    return (col(Payment.checked_at).is_(None)) | (col(Payment.checked_at) <= checked_before)


async def attempts_to_reconcile(
    session: AsyncSession,
    *,
    made_before: datetime,
    made_after: datetime,
    providers: Sequence[str],
    limit: int,
) -> list[Payment]:
    """Pending attempts with these providers made between the two moments and not asked about since
    made_before, oldest first."""
    statement = (
        select(Payment)
        .where(
            Payment.status == PaymentStatus.PENDING,
            col(Payment.created_at) <= made_before,
            _unchecked_since(made_before),
            col(Payment.created_at) > made_after,
            col(Payment.provider).in_(providers),
        )
        .order_by(col(Payment.created_at))
        .limit(limit)
    )
    return list((await session.exec(statement)).all())


async def claim_reconcile_check(
    session: AsyncSession, *, attempt_id: int, now: datetime, checked_before: datetime
) -> bool:
    """Whether this worker is the one to ask the provider about the attempt now (nobody did since the moment)."""
    claimed = await session.exec(
        update(Payment).where(col(Payment.id) == attempt_id, _unchecked_since(checked_before)).values(checked_at=now)
    )
    return bool(claimed.rowcount == 1)


async def kept_for_others(session: AsyncSession, *, request_id: int, holder: str, since: datetime) -> int:
    """What the pending chip-ins to the request that other friends started after the moment credit."""
    statement = select(func.coalesce(func.sum(Payment.credit_minor), 0)).where(
        Payment.request_id == request_id,
        Payment.status == PaymentStatus.PENDING,
        col(Payment.holder).is_not(None),
        col(Payment.holder) != holder,
        col(Payment.created_at) > since,
    )
    return int((await session.exec(statement)).one() or 0)


async def keep_checkout(session: AsyncSession, *, checkout_ref: str, values: Mapping[str, object]) -> None:
    """Keep what the provider made for the attempt (its checkout's id, link and end) with it."""
    await session.exec(update(Payment).where(col(Payment.checkout_ref) == checkout_ref).values(**values))
