"""What people must be told, written to an outbox (the tellings table) in the transaction of the change it tells of.

The same habit as callbacks to shops (services.callback_outbox): a service that changes something records, in its
own transaction, one row per message owed (a receipt, a requester's note, a note to each admin, a refund or
decline notice) and one per card to redraw. The teller (handlers.teller) renders each row from what the database
says when it is sent, sends it and marks it done. So a crash between the change and the message loses nothing,
and nothing is handed back up to be told by whoever called.

A row is claimed by a lease (claimed_until). The worker that records it holds it first, and its doorbell wakes
its teller as soon as the transaction commits; a row whose worker died before telling it is claimed again, by
one conditional UPDATE, once its lease has run out (Tellings.claim_due, from the housekeeping job). A row is
sent by one worker at a time, then marked done: told at least once, and twice only if a worker dies between
sending and marking.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, insert
from sqlalchemy import select as core_select
from sqlalchemy import update as core_update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.metrics import PARKED
from services.parking import PARK_AFTER_ATTEMPTS, error_text
from storage.database import Database, after_commit, run_core
from storage.models import (
    Order,
    OrphanCharge,
    Payment,
    PayRequest,
    Refund,
    RequestMode,
    RequestStatus,
    Telling,
    utcnow,
)

log = logging.getLogger(__name__)
# Long enough for a row's messages under Telegram's flood limits (the teller renews it when half is gone); a
# row whose worker died waits this long, and then the housekeeping job's next round, before it is told.
LEASE = timedelta(minutes=2)
RETRY_AFTER = timedelta(minutes=1)  # after a try that failed (not a person who blocked the bot: that is done)
# A message a day late would confuse more than it tells: a row not told by then is left, not sent.
GIVE_UP_AFTER = timedelta(days=1)
CLAIM_BATCH = 100
# Rows told within this long of each other are marked done by one UPDATE (as the update inbox marks its updates,
# services.update_inbox.DoneMarks). A crash can lose the marks of that last fifth of a second: those messages
# are sent again once their lease runs out, as after a crash in the middle of sending them.
DONE_BATCH_SECONDS = 0.2


class Kind(StrEnum):
    RECEIPT = "receipt"  # to the payer: payment_id
    PAID_NOTE = "paid_note"  # to an admin: payment_id
    REQUESTER_NOTE = "requester_note"  # to the requester: payment_id; reason COVERED if it covered the request
    CARD = "card"  # no chat: the request's cards are redrawn; reason CLOSED if it was paid, cancelled or expired
    DECLINED = "declined"  # to the payer: payment_id
    REQUEST_EXPIRED = "request_expired"  # to the requester: request_id
    REFUNDED = "refunded"  # to the payer: refund_id
    REFUND_NOTE = "refund_note"  # to an admin: refund_id
    REFUND_PENDING = "refund_pending"  # to an admin: refund_id (the provider has not finished it)
    REFUND_FAILED = "refund_failed"  # to an admin: refund_id, detail: why; reason AFTER_DONE if it had succeeded
    ORPHAN = "orphan"  # to an admin: orphan_id


COVERED = "covered"
CLOSED = "closed"
AFTER_DONE = "after_done"


@dataclass(frozen=True, slots=True)
class Claimed:
    """A row to tell, held by this worker until claimed_until."""

    id: int
    kind: Kind
    claimed_until: datetime
    chat_id: int | None = None
    order_id: int | None = None
    payment_id: int | None = None
    request_id: int | None = None
    refund_id: int | None = None
    orphan_id: int | None = None
    reason: str | None = None
    detail: str | None = None
    # The charge, its order and request as the transaction that recorded the row wrote them, for the teller of
    # that worker: straight after the commit they are what the database says (see Tellings.subjects).
    written: tuple[Payment, Order, PayRequest | None] | None = None


@dataclass(frozen=True, slots=True)
class _Row:
    """A row as a service records it (Claimed without its id and lease)."""

    kind: Kind
    chat_id: int | None = None
    order_id: int | None = None
    payment_id: int | None = None
    request_id: int | None = None
    refund_id: int | None = None
    orphan_id: int | None = None
    reason: str | None = None
    detail: str | None = None


_REFS = tuple(field.name for field in fields(_Row) if field.name != "kind")


@dataclass(frozen=True, slots=True)
class Batch:
    """The rows one commit recorded, handed to the teller; told, once it is done (when someone waits for it)."""

    rows: list[Claimed]
    told: asyncio.Future[None] | None = None

    def done(self) -> None:
        if self.told is not None and not self.told.done():
            self.told.set_result(None)


class _Held:
    """What a unit of work (an update, a job step) recorded: handed to the teller when it ends, in one batch (told
    in the order it was recorded)."""

    def __init__(self) -> None:
        self.rows: dict[Doorbell, list[Claimed]] = {}
        self.open = True  # a task the unit started may outlive it: what it records later is handed at once


_HELD: ContextVar[_Held | None] = ContextVar("daifu_tellings_held", default=None)


class Doorbell:
    """Wakes this worker's teller right after a commit that recorded something to tell: the teller awaits it
    (next_batch) and is handed the rows.

    Rung only after the commit (storage.database.after_commit), so the teller never reads a change not yet
    visible. With no teller awaiting it (a process that only records), the rows wait for their lease to run out.
    """

    def __init__(self) -> None:
        self._batches: deque[Batch] = deque()
        self._rung = asyncio.Event()
        self._answered = False  # a teller is taking what is rung

    def ring(self, rows: list[Claimed]) -> None:
        held = _HELD.get()
        if held is not None and held.open:
            held.rows.setdefault(self, []).extend(rows)
        else:
            self.hand(Batch(rows))

    def hand(self, batch: Batch) -> None:
        if not self._answered:
            batch.done()  # nobody tells it here: another worker will, once its lease has run out
            return
        self._batches.append(batch)
        self._rung.set()

    @property
    def waiting(self) -> int:
        """Batches rung and not taken by the teller yet."""
        return len(self._batches)

    async def next_batch(self) -> Batch:
        """The next rows to tell, as soon as a commit recorded them (for the teller)."""
        self._answered = True
        while not self._batches:
            self._rung.clear()
            await self._rung.wait()
        return self._batches.popleft()

    def close(self) -> list[Batch]:
        """No teller takes what is rung from now on; the batches rung and not taken yet are handed back."""
        self._answered = False
        left = list(self._batches)
        self._batches.clear()
        return left


@asynccontextmanager
async def tell_at_the_end() -> AsyncIterator[None]:
    """What the code inside records is handed to the teller when the block ends (even if it raised: what it
    committed stands), and the block waits until it is told. So a person hears the answer to what they did first,
    then what it changed, and their next update is answered after both (bot.update_order, the housekeeping job)."""
    held = _Held()
    token = _HELD.set(held)
    try:
        yield
    finally:
        _HELD.reset(token)
        held.open = False
        told: list[asyncio.Future[None]] = []
        for doorbell, rows in held.rows.items():
            told.append(asyncio.get_running_loop().create_future())
            doorbell.hand(Batch(rows, told[-1]))
        if told:
            await asyncio.gather(*told)


@dataclass(frozen=True, slots=True)
class Subjects:
    """What a batch of rows tells of, as the database says it now."""

    charges: dict[int, tuple[Payment, Order, PayRequest | None]]  # by payment id
    refunds: dict[int, tuple[Refund, Payment, Order]]  # by refund id
    requests: dict[int, tuple[PayRequest, Order]]  # by request id
    orphans: dict[int, OrphanCharge]  # by orphan charge id


_table = Telling.__table__  # type: ignore[attr-defined]
# Built once: one INSERT of all the rows of a change (SQLAlchemy sends a set of parameters as one multi-row
# statement), the ids back in the order given.
_RECORD = insert(_table).returning(_table.c.id, sort_by_parameter_order=True)
_DONE = core_update(_table).where(_table.c.id.in_(bindparam("ids", expanding=True))).values(done_at=bindparam("now"))
_KEEP = (
    core_update(_table)
    .where(
        _table.c.id.in_(bindparam("ids", expanding=True)),
        _table.c.claimed_until == bindparam("mine"),
        _table.c.done_at.is_(None),
    )
    .values(claimed_until=bindparam("until"))
    .returning(_table.c.id)
)
_RELEASE = (
    core_update(_table)
    .where(_table.c.id.in_(bindparam("ids", expanding=True)), _table.c.done_at.is_(None))
    .values(claimed_until=bindparam("now"))
)
_FAILED = (
    core_update(_table)
    .where(_table.c.id == bindparam("w_id"))
    .values(
        attempts=_table.c.attempts + 1,
        last_error=bindparam("error"),
        claimed_until=bindparam("retry_at"),
    )
    .returning(_table.c.attempts)
)
_GAVE_UP = core_update(_table).where(_table.c.id == bindparam("w_id")).values(last_error=bindparam("error"))
_CLAIMABLE = (
    _table.c.done_at.is_(None),
    _table.c.claimed_until <= bindparam("now"),
    _table.c.attempts < PARK_AFTER_ATTEMPTS,  # parked: left for someone to look at
    _table.c.created_at > bindparam("oldest"),
)
# Two workers sweeping at once: on PostgreSQL each skips the rows the other is claiming (SKIP LOCKED), and the
# lease is checked again on the row itself; SQLite runs one writer at a time.
_CLAIM_DUE = (
    core_update(_table)
    .where(
        _table.c.id.in_(
            core_select(_table.c.id)
            .where(*_CLAIMABLE)
            .order_by(_table.c.id)
            .limit(bindparam("limit"))
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        ),
        *_CLAIMABLE,
    )
    .values(claimed_until=bindparam("until"))
    .returning(*(_table.c[name] for name in ("id", "kind", "claimed_until", *_REFS)))
)

_CHARGES = (
    select(Payment, Order, PayRequest)
    .join(Order, col(Order.id) == col(Payment.order_id))
    .outerjoin(PayRequest, col(PayRequest.id) == col(Payment.request_id))
    .where(col(Payment.id).in_(bindparam("ids", expanding=True)))
)
_REFUNDS = (
    select(Refund, Payment, Order)
    .join(Payment, col(Payment.id) == col(Refund.payment_id))
    .join(Order, col(Order.id) == col(Payment.order_id))
    .where(col(Refund.id).in_(bindparam("ids", expanding=True)))
)
_REQUESTS = (
    select(PayRequest, Order)
    .join(Order, col(Order.id) == col(PayRequest.order_id))
    .where(col(PayRequest.id).in_(bindparam("ids", expanding=True)))
)
_ORPHANS = select(OrphanCharge).where(col(OrphanCharge.id).in_(bindparam("ids", expanding=True)))
_CHARGE_KINDS = frozenset({Kind.RECEIPT, Kind.PAID_NOTE, Kind.REQUESTER_NOTE, Kind.DECLINED})
_REFUND_KINDS = frozenset({Kind.REFUNDED, Kind.REFUND_NOTE, Kind.REFUND_PENDING, Kind.REFUND_FAILED})


class Tellings:
    """Recording what people must be told (inside the caller's transaction), and the teller's claims on it."""

    def __init__(self, db: Database, admin_ids: Iterable[int]) -> None:
        self.db = db
        self.admin_ids = tuple(admin_ids)
        self.doorbell = Doorbell()
        self._told: set[int] = set()
        self._flushing: asyncio.Task[None] | None = None
        self._waiting_to_flush = False

    # -- recording, in the transaction of the change ----------------------------------------------------

    async def paid(self, session: AsyncSession, payment: Payment, order: Order, request: PayRequest | None) -> None:
        """A charge was credited: a receipt to the payer and a note to each admin; for a request, a note to the
        requester and its cards redrawn (closed, when this payment paid the order)."""
        assert payment.id is not None
        covered = request is not None and request.status != RequestStatus.OPEN

        def about_charge(kind: Kind, chat_id: int | None, **more: Any) -> _Row:
            return _Row(kind, chat_id, order_id=payment.order_id, payment_id=payment.id, **more)

        rows = [about_charge(Kind.RECEIPT, payment.payer_id)] if payment.payer_id is not None else []
        rows += [about_charge(Kind.PAID_NOTE, admin_id) for admin_id in self.admin_ids]
        if request is not None and request.id is not None:
            reason = COVERED if covered else None
            rows.append(about_charge(Kind.REQUESTER_NOTE, request.requester_id, request_id=request.id, reason=reason))
            rows.append(_Row(Kind.CARD, request_id=request.id, reason=CLOSED if covered else None))
        await self._record(session, rows, written=(payment, order, request))

    async def declined(self, session: AsyncSession, payment: Payment) -> None:
        """A payment was declined: its payer is told, and the request's cards drop the friend who was paying."""
        assert payment.id is not None
        rows = []
        if payment.payer_id is not None:
            rows.append(_Row(Kind.DECLINED, payment.payer_id, order_id=payment.order_id, payment_id=payment.id))
        if payment.request_id is not None:
            rows.append(_Row(Kind.CARD, request_id=payment.request_id))
        await self._record(session, rows)

    async def refunded(self, session: AsyncSession, refund_id: int, payment: Payment, *, pending: bool) -> None:
        """Money went back (or is owed back): the payer and the admins are told. pending: the provider took the
        refund but has not finished it; only the admins hear of it now."""

        def about_refund(kind: Kind, chat_id: int | None) -> _Row:
            return _Row(kind, chat_id, order_id=payment.order_id, payment_id=payment.id, refund_id=refund_id)

        if pending:
            rows = [about_refund(Kind.REFUND_PENDING, admin_id) for admin_id in self.admin_ids]
        else:
            rows = [about_refund(Kind.REFUNDED, payment.payer_id)] if payment.payer_id is not None else []
            rows += [about_refund(Kind.REFUND_NOTE, admin_id) for admin_id in self.admin_ids]
        await self._record(session, rows)

    async def refund_failed(
        self, session: AsyncSession, refund_id: int, payment: Payment, why: str, *, after_done: bool = False
    ) -> None:
        """A refund did not go back to the payer (who was not told it did): the admins must act."""
        reason = AFTER_DONE if after_done else None
        rows = [
            _Row(
                Kind.REFUND_FAILED,
                admin_id,
                payment.order_id,
                payment.id,
                refund_id=refund_id,
                reason=reason,
                detail=why,
            )
            for admin_id in self.admin_ids
        ]
        await self._record(session, rows)

    async def orphan_charged(self, session: AsyncSession, charge_id: int) -> None:
        """Money arrived for a checkout daifu does not know: the admins are told what became of it."""
        await self._record(session, [_Row(Kind.ORPHAN, admin_id, orphan_id=charge_id) for admin_id in self.admin_ids])

    async def request_closed(self, session: AsyncSession, request: PayRequest, status: RequestStatus) -> None:
        """A request was cancelled or expired: its cards say so, and an expired one's requester is told."""
        assert request.id is not None
        rows = [_Row(Kind.CARD, request_id=request.id, reason=CLOSED)]
        if status == RequestStatus.EXPIRED:
            rows.append(
                _Row(Kind.REQUEST_EXPIRED, request.requester_id, order_id=request.order_id, request_id=request.id)
            )
        await self._record(session, rows)

    async def card_changed(self, session: AsyncSession, request_id: int) -> None:
        """Something a request's cards show changed (a friend started paying): redraw them."""
        await self._record(session, [_Row(Kind.CARD, request_id=request_id)])

    async def _record(
        self,
        session: AsyncSession,
        rows: Sequence[_Row],
        written: tuple[Payment, Order, PayRequest | None] | None = None,
    ) -> None:
        if not rows:
            return
        now = utcnow()
        # Held by this worker from the start: its teller is rung when the transaction commits.
        until = now + LEASE
        values = [
            {"kind": row.kind.value, "created_at": now, "claimed_until": until, "attempts": 0}
            | {name: getattr(row, name) for name in _REFS}
            for row in rows
        ]
        ids = [row_id for (row_id,) in (await run_core(session, _RECORD, values)).all()]
        claimed = [
            Claimed(row_id, row.kind, until, **{name: getattr(row, name) for name in _REFS}, written=written)
            for row_id, row in zip(ids, rows, strict=True)
        ]
        doorbell = self.doorbell
        after_commit(session, lambda: doorbell.ring(claimed))

    # -- the teller's side ---------------------------------------------------------------------------------

    async def claim_due(self, limit: int = CLAIM_BATCH) -> list[Claimed]:
        """Rows whose lease ran out (their worker died, or a try failed a while ago), claimed for this worker."""
        now = utcnow()
        params = {"now": now, "oldest": now - GIVE_UP_AFTER, "limit": limit, "until": now + LEASE}
        async with self.db.transaction() as session:
            found = (await run_core(session, _CLAIM_DUE, params)).all()
        return sorted((_claimed(row._mapping) for row in found), key=lambda row: row.id)

    async def keep(self, rows: Sequence[Claimed]) -> list[Claimed]:
        """Renew this worker's lease on rows it holds; those it no longer holds (it ran out, and another worker may
        have them) are left out. One statement for each time the rows were held until (one, or a few)."""
        until = utcnow() + LEASE
        kept: set[int] = set()
        for mine in sorted({row.claimed_until for row in rows}):
            params = {"ids": [row.id for row in rows if row.claimed_until == mine], "mine": mine, "until": until}
            async with self.db.alone() as connection:
                kept |= {row_id for (row_id,) in (await connection.execute(_KEEP, params)).all()}
        return [_replace_lease(row, until) for row in rows if row.id in kept]

    def told(self, ids: Iterable[int]) -> None:
        """Told (or given up on for good: a person who blocked the bot): never sent again. Marked done with the
        others told within DONE_BATCH_SECONDS (flush_told writes them at once)."""
        self._told.update(ids)
        if self._told and (self._flushing is None or self._flushing.done()):
            self._flushing = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        # Rows told while a batch was being written found this task still running: they go in the next round.
        while True:
            self._waiting_to_flush = True
            try:
                await asyncio.sleep(DONE_BATCH_SECONDS)
            finally:
                self._waiting_to_flush = False
            await self.flush_told()
            if not self._told:
                return

    async def flush_told(self) -> None:
        """Mark done now the rows told and not marked yet."""
        told, self._told = self._told, set()
        if not told:
            return
        try:
            async with self.db.alone() as connection:
                await connection.execute(_DONE, {"ids": sorted(told), "now": utcnow()})
        except Exception:  # not marked: sent again once their lease runs out, as after a crash
            log.exception("could not mark %d tellings done", len(told))

    async def close(self) -> None:
        """Write the marks still waiting (a stopping worker). A flush already writing is let finish."""
        flushing = self._flushing
        if flushing is not None and not flushing.done():
            if self._waiting_to_flush:
                flushing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flushing
        await self.flush_told()

    async def gave_up(self, row_id: int, why: str) -> None:
        """Why a row done was not sent after all (kept for someone looking into it)."""
        async with self.db.alone() as connection:
            await connection.execute(_GAVE_UP, {"w_id": row_id, "error": why[:500]})

    async def failed(self, row: Claimed, error: BaseException) -> None:
        """A try that raised: counted and tried again a while later, or parked after PARK_AFTER_ATTEMPTS."""
        params = {"w_id": row.id, "error": error_text(error), "retry_at": utcnow() + RETRY_AFTER}
        async with self.db.alone() as connection:
            attempts = (await connection.execute(_FAILED, params)).scalar_one_or_none()
        if attempts is not None and attempts >= PARK_AFTER_ATTEMPTS:
            log.error("parked %s telling %s after %d tries", row.kind.value, row.id, attempts)
            PARKED.labels(kind="telling").inc()

    async def release(self, ids: Sequence[int]) -> None:
        """Rows this worker will not tell after all (it is stopping): any worker may claim them now."""
        if ids:
            async with self.db.alone() as connection:
                await connection.execute(_RELEASE, {"ids": list(ids), "now": utcnow()})

    async def subjects(self, rows: Sequence[Claimed]) -> Subjects:
        """What the rows tell of, read in one statement per kind of thing (charges, refunds, requests, orphans).

        A charge recorded by this worker's own transaction moments ago is taken as that transaction wrote it (no
        read on the hot path of every payment): the payment, order and request texts show do not change after
        it. Not a chip-in's: its note shows what friends have covered now, which later chip-ins change."""
        found = Subjects({}, {}, {}, {})
        for row in rows:
            written = row.written
            if row.kind not in _CHARGE_KINDS or written is None or row.payment_id is None:
                continue
            if written[2] is None or written[2].mode != RequestMode.SPLIT:
                found.charges[row.payment_id] = written
        charge_ids = {
            row.payment_id
            for row in rows
            if row.kind in _CHARGE_KINDS and row.payment_id is not None and row.payment_id not in found.charges
        }
        refund_ids = {row.refund_id for row in rows if row.kind in _REFUND_KINDS and row.refund_id is not None}
        request_ids = {row.request_id for row in rows if row.kind == Kind.REQUEST_EXPIRED and row.request_id}
        orphan_ids = {row.orphan_id for row in rows if row.kind == Kind.ORPHAN and row.orphan_id is not None}
        if not (charge_ids or refund_ids or request_ids or orphan_ids):
            return found
        async with self.db.reading() as session:
            if charge_ids:
                for payment, order, request in await _all(session, _CHARGES, charge_ids):
                    found.charges[payment.id] = (payment, order, request)
            if refund_ids:
                for refund, payment, order in await _all(session, _REFUNDS, refund_ids):
                    found.refunds[refund.id] = (refund, payment, order)
            if request_ids:
                for request, order in await _all(session, _REQUESTS, request_ids):
                    found.requests[request.id] = (request, order)
            if orphan_ids:
                for charge in await _all(session, _ORPHANS, orphan_ids):
                    found.orphans[charge.id] = charge
        return found


async def _all(session: AsyncSession, statement: Any, ids: set[int]) -> Sequence[Any]:
    return (await session.exec(statement, params={"ids": sorted(ids)})).all()


def _claimed(values: Any) -> Claimed:
    return Claimed(
        values["id"],
        Kind(values["kind"]),
        values["claimed_until"],
        **{name: values[name] for name in _REFS},
    )


def _replace_lease(row: Claimed, until: datetime) -> Claimed:
    return Claimed(row.id, row.kind, until, **{name: getattr(row, name) for name in _REFS})
