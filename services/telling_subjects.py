"""What a batch of rows of the tellings outbox tells of (charges, refunds, requests, orphan charges), read for the
teller when it tells them: what the database says then."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.telling_rows import CHARGE_KINDS, REFUND_KINDS, Charge, Claimed, Kind
from storage.database import Database
from storage.models import Order, OrphanCharge, Payment, PayRequest, Refund, RequestMode
from storage.queries import tellings as read


@dataclass(frozen=True, slots=True)
class Subjects:
    """What a batch of rows tells of, as the database says it now."""

    charges: dict[int, Charge]  # by payment id
    refunds: dict[int, tuple[Refund, Payment, Order]]  # by refund id
    requests: dict[int, tuple[PayRequest, Order]]  # by request id
    orphans: dict[int, OrphanCharge]  # by orphan charge id


class TellingSubjects:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def read(self, rows: Sequence[Claimed]) -> Subjects:
        """What the rows tell of, read in one statement per kind of thing (charges, refunds, requests, orphans).

        A charge recorded by this worker's own transaction moments ago is taken as that transaction wrote it (no
        read on the hot path of every payment): the payment, order and request texts show do not change after
        it. Not a chip-in's: its note shows what friends have covered now, which later chip-ins change."""
        found = Subjects({}, {}, {}, {})
        for row in rows:
            written = row.written
            if row.kind not in CHARGE_KINDS or written is None or row.payment_id is None:
                continue
            if written[2] is None or written[2].mode != RequestMode.SPLIT:
                found.charges[row.payment_id] = written
        charge_ids = {
            row.payment_id
            for row in rows
            if row.kind in CHARGE_KINDS and row.payment_id is not None and row.payment_id not in found.charges
        }
        refund_ids = {row.refund_id for row in rows if row.kind in REFUND_KINDS and row.refund_id is not None}
        request_ids = {row.request_id for row in rows if row.kind == Kind.REQUEST_EXPIRED and row.request_id}
        orphan_ids = {row.orphan_id for row in rows if row.kind == Kind.ORPHAN and row.orphan_id is not None}
        if not (charge_ids or refund_ids or request_ids or orphan_ids):
            return found
        async with self.db.reading() as session:
            if charge_ids:
                for payment, order, request in await read.charges(session, payment_ids=charge_ids):
                    found.charges[payment.id] = (payment, order, request)
            if refund_ids:
                for refund, payment, order in await read.refunds(session, refund_ids=refund_ids):
                    found.refunds[refund.id] = (refund, payment, order)
            if request_ids:
                for request, order in await read.requests(session, request_ids=request_ids):
                    found.requests[request.id] = (request, order)
            if orphan_ids:
                for charge in await read.orphan_charges(session, orphan_ids=orphan_ids):
                    found.orphans[charge.id] = charge
        return found
