"""What a batch of rows of the tellings outbox tells of (charges, refunds, requests, orphan charges), read for the
teller when it tells them: what the database says then."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.read_models import OrderInfo, OrphanChargeInfo, PaymentInfo, RefundInfo, RequestInfo
from services.telling_rows import CHARGE_KINDS, REFUND_KINDS, Charge, Claimed, Kind
from storage.database import Database
from storage.queries import tellings as read


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
