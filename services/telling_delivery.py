"""How recorded rows reach the teller: the doorbell that hands them over right after the commit that recorded
them, the leases the teller holds on rows while it tells them, and what each row tells of, read as read models.

The doorbell wakes this worker's teller right after a commit that recorded something to tell, and hands it the
rows, held by this worker from the start. A row is sent by one worker at a time, then marked done: told at least
once, and twice only if a worker dies between sending and marking (or its mark is lost: services.done_marks).
Failed tries are counted, and a row is parked after PARK_AFTER_ATTEMPTS. What a row tells of (charges, refunds,
requests, orphan charges) is read when it is told: what the database says then.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from services.done_marks import DoneMarks
from services.metrics import PARKED
from services.parking import PARK_AFTER_ATTEMPTS, error_text
from services.read_models import OrderInfo, OrphanChargeInfo, PaymentInfo, RefundInfo, RequestInfo
from services.telling_rows import ABOUT_A_CHARGE, CHARGE_KINDS, FIELDS, REFUND_KINDS, Charge, Claimed, Kind
from storage.database import Database
from storage.models import Telling, utcnow
from storage.queries import tellings as read
from storage.queries.done_marks import mark_done
from storage.queries.tellings import claim_due, count_failure, keep_leases, note_given_up, release_tellings


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


log = logging.getLogger(__name__)
# Long enough for a row's messages under Telegram's flood limits (the teller renews it when half is gone); a
# row whose worker died waits this long, and then the housekeeping job's next round, before it is told.
LEASE = timedelta(minutes=2)
RETRY_AFTER = timedelta(minutes=1)  # after a try that failed (not a person who blocked the bot: that is done)
# A message a day late would confuse more than it tells: a row not told by then is left, not sent.
GIVE_UP_AFTER = timedelta(days=1)
CLAIM_BATCH = 100


class TellingLeases:
    """The rows this worker holds, from their claim until they are done."""

    def __init__(self, db: Database) -> None:
        self.db = db
        # Rows told within a fifth of a second of each other are marked done by one UPDATE.
        self._marks = DoneMarks(self)

    async def claim_due(self, limit: int = CLAIM_BATCH) -> list[Claimed]:
        """Rows whose lease ran out (their worker died, or a try failed a while ago), claimed for this worker."""
        now = utcnow()
        async with self.db.transaction() as session:
            found = await claim_due(
                session,
                now=now,
                made_after=now - GIVE_UP_AFTER,
                below_tries=PARK_AFTER_ATTEMPTS,
                limit=limit,
                until=now + LEASE,
            )
        return sorted((_claimed(values) for values in found), key=lambda row: row.id)

    async def keep(self, rows: Sequence[Claimed]) -> list[Claimed]:
        """Renew this worker's lease on rows it holds; those it no longer holds (it ran out, and another worker may
        have them) are left out. One statement for each time the rows were held until (one, or a few)."""
        until = utcnow() + LEASE
        kept: set[int] = set()
        for mine in sorted({row.claimed_until for row in rows}):
            ids = [row.id for row in rows if row.claimed_until == mine]
            async with self.db.alone() as connection:
                kept |= await keep_leases(connection, ids=ids, mine=mine, until=until)
        return [replace(row, claimed_until=until) for row in rows if row.id in kept]

    def told(self, ids: Iterable[int]) -> None:
        """Told (or given up on for good: a person who blocked the bot): never sent again. Marked done with the
        others told within a fifth of a second (flush_told writes them at once)."""
        for row_id in ids:
            self._marks.add(row_id)

    async def flush_told(self) -> None:
        """Mark done now the rows told and not marked yet."""
        await self._marks.flush()

    async def close(self) -> None:
        """Write the marks still waiting (a stopping worker). A flush already writing is let finish."""
        await self._marks.close()

    async def done(self, *ids: int) -> None:
        async with self.db.alone() as connection:
            await mark_done(connection, model=Telling, key="id", ids=ids, at=utcnow())

    def let_go(self, key: int, /) -> None:
        """Nothing to do: a row's lease runs out by itself."""

    async def gave_up(self, row_id: int, why: str) -> None:
        """Why a row done was not sent after all (kept for someone looking into it)."""
        async with self.db.alone() as connection:
            await note_given_up(connection, row_id=row_id, why=why[:500])

    async def failed(self, row: Claimed, error: BaseException) -> None:
        """A try that raised: counted and tried again a while later, or parked after PARK_AFTER_ATTEMPTS."""
        async with self.db.alone() as connection:
            attempts = await count_failure(
                connection, row_id=row.id, error=error_text(error), retry_at=utcnow() + RETRY_AFTER
            )
        if attempts is not None and attempts >= PARK_AFTER_ATTEMPTS:
            log.error("parked %s telling %s after %d tries", row.kind.value, row.id, attempts)
            PARKED.labels(kind="telling").inc()

    async def release(self, ids: Sequence[int]) -> None:
        """Rows this worker will not tell after all (it is stopping): any worker may claim them now."""
        if ids:
            async with self.db.alone() as connection:
                await release_tellings(connection, ids=ids, now=utcnow())


def _claimed(values: Mapping[Any, Any]) -> Claimed:
    recorded = {name: values[name] for name in FIELDS} | {"kind": Kind(values["kind"])}
    return Claimed(**recorded, id=values["id"], claimed_until=values["claimed_until"])


@dataclass(frozen=True, slots=True)
class Subjects:
    """What a batch of rows tells of, as the database says it now (read models, for the teller to render)."""

    charges: dict[int, Charge]  # by payment id
    refunds: dict[int, tuple[RefundInfo, PaymentInfo, OrderInfo]]  # by refund id
    requests: dict[int, tuple[RequestInfo, OrderInfo]]  # by request id
    orphans: dict[int, OrphanChargeInfo]  # by orphan charge id


class TellingSubjects:
    """Reads, for the teller, what the rows it is about to tell are about, as read models."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def read(self, rows: Sequence[Claimed]) -> Subjects:
        """What the rows tell of, read in one statement per kind of thing (charges, refunds, requests, orphans),
        but for a charge this worker's own transaction wrote moments ago (Claimed.written)."""
        found = Subjects({}, {}, {}, {})
        for row in rows:
            if row.kind in CHARGE_KINDS and row.written is not None and row.payment_id is not None:
                found.charges[row.payment_id] = row.written
        charge_ids = {
            row.payment_id
            for row in rows
            if row.kind in ABOUT_A_CHARGE and row.payment_id is not None and row.payment_id not in found.charges
        }
        refund_ids = {row.refund_id for row in rows if row.kind in REFUND_KINDS and row.refund_id is not None}
        request_ids = {row.request_id for row in rows if row.kind == Kind.REQUEST_EXPIRED and row.request_id}
        orphan_ids = {row.orphan_id for row in rows if row.kind == Kind.ORPHAN and row.orphan_id is not None}
        if not (charge_ids or refund_ids or request_ids or orphan_ids):
            return found
        async with self.db.reading() as session:
            if charge_ids:
                for payment, order, request in await read.charges(session, payment_ids=charge_ids):
                    paid = None if request is None else RequestInfo.of(request)
                    charge = PaymentInfo.of(payment), OrderInfo.of(order), paid
                    found.charges[charge[0].id] = charge
            if refund_ids:
                for refund, payment, order in await read.refunds(session, refund_ids=refund_ids):
                    returned = RefundInfo.of(refund), PaymentInfo.of(payment), OrderInfo.of(order)
                    found.refunds[returned[0].id] = returned
            if request_ids:
                for request, order in await read.requests(session, request_ids=request_ids):
                    closed = RequestInfo.of(request), OrderInfo.of(order)
                    found.requests[closed[0].id] = closed
            if orphan_ids:
                for orphan in await read.orphan_charges(session, orphan_ids=orphan_ids):
                    info = OrphanChargeInfo.of(orphan)
                    found.orphans[info.id] = info
        return found
