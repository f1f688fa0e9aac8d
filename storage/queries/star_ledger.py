"""The bot's Stars ledger as daifu read it (star_ledger): where the next read starts, the transactions kept, and
daifu's Stars charges, refunds and orphan give-backs the ledger does not show."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, exists, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import OrphanCharge, Payment, PaymentStatus, Refund, StarLedgerEntry


async def next_position(session: AsyncSession) -> int:
    """How many of the ledger's transactions were read: the offset the next read starts at."""
    last = (await session.exec(select(func.max(col(StarLedgerEntry.position))))).one()
    return 0 if last is None else int(last) + 1


async def keep_entries(session: AsyncSession, entries: Sequence[StarLedgerEntry]) -> None:
    session.add_all(entries)


async def pending_refund_of(session: AsyncSession, *, payment_id: int) -> Refund | None:
    """A refund of the charge daifu asked for and has not heard the end of."""
    statement = select(Refund).where(col(Refund.payment_id) == payment_id, col(Refund.status) == "pending")
    return (await session.exec(statement.order_by(col(Refund.id)))).first()


async def orphan_charge_of(session: AsyncSession, *, provider: str, charge_ref: str) -> OrphanCharge | None:
    statement = select(OrphanCharge).where(
        col(OrphanCharge.provider) == provider, col(OrphanCharge.charge_ref) == charge_ref
    )
    return (await session.exec(statement)).first()


def _in_ledger(charge_ref: object, *, incoming: bool) -> object:
    return exists().where(col(StarLedgerEntry.charge_id) == charge_ref, col(StarLedgerEntry.incoming).is_(incoming))


async def refunds_not_in_ledger(
    session: AsyncSession, *, provider: str, done_before: datetime, done_after: datetime, limit: int
) -> list[int]:
    """daifu's finished refunds of that provider's charges, asked for within the window, with no outgoing
    transaction for their charge in the ledger read so far; oldest first."""
    statement = (
        select(Refund.id)
        .join(Payment, col(Payment.id) == col(Refund.payment_id))
        .where(
            col(Payment.provider) == provider,
            col(Refund.status) == "done",
            col(Refund.created_at) <= done_before,
            col(Refund.created_at) > done_after,
            ~_in_ledger(Payment.provider_ref, incoming=False),  # type: ignore[operator]
        )
        .order_by(col(Refund.id))
        .limit(limit)
    )
    return [refund_id for refund_id in (await session.exec(statement)).all() if refund_id is not None]


async def give_backs_not_in_ledger(
    session: AsyncSession, *, provider: str, kept_before: datetime, kept_after: datetime, limit: int
) -> list[int]:
    """That provider's orphan charges kept within the window and given back (as daifu recorded it), with no
    outgoing transaction for their charge in the ledger read so far; oldest first."""
    statement = (
        select(OrphanCharge.id)
        .where(
            col(OrphanCharge.provider) == provider,
            col(OrphanCharge.status) == "refunded",
            col(OrphanCharge.created_at) <= kept_before,
            col(OrphanCharge.created_at) > kept_after,
            ~_in_ledger(OrphanCharge.charge_ref, incoming=False),  # type: ignore[operator]
        )
        .order_by(col(OrphanCharge.id))
        .limit(limit)
    )
    return [charge_id for charge_id in (await session.exec(statement)).all() if charge_id is not None]


async def charges_not_in_ledger(
    session: AsyncSession, *, provider: str, settled_before: datetime, settled_after: datetime, limit: int
) -> tuple[int, list[str]]:
    """How many of that provider's charges settled within the window have no incoming transaction in the ledger
    read so far, and the latest few of their charge ids."""
    missing = (
        col(Payment.provider) == provider,
        col(Payment.status).in_([PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED]),
        col(Payment.settled_at) <= settled_before,
        col(Payment.settled_at) > settled_after,
        ~_in_ledger(Payment.provider_ref, incoming=True),  # type: ignore[operator]
    )
    count = (await session.exec(select(func.count()).select_from(Payment).where(*missing))).one()
    latest = select(Payment.provider_ref).where(*missing).order_by(col(Payment.settled_at).desc()).limit(limit)
    return int(count), [ref for ref in (await session.exec(latest)).all() if ref is not None]


async def ledger_summary(session: AsyncSession) -> tuple[int, datetime | None, int]:
    """How many transactions were read, when the latest of them was, and how many could not be matched."""
    read = await next_position(session)
    latest = select(StarLedgerEntry.read_at).order_by(col(StarLedgerEntry.position).desc()).limit(1)
    last = (await session.exec(latest)).first()
    unmatched = (
        await session.exec(
            select(func.count()).select_from(StarLedgerEntry).where(col(StarLedgerEntry.matched) == "unmatched")
        )
    ).one()
    return read, last, int(unmatched)


async def latest_unmatched(session: AsyncSession, *, limit: int) -> list[StarLedgerEntry]:
    statement = (
        select(StarLedgerEntry)
        .where(col(StarLedgerEntry.matched) == "unmatched")
        .order_by(col(StarLedgerEntry.position).desc())
        .limit(limit)
    )
    return list((await session.exec(statement)).all())
