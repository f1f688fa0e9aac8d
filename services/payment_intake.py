"""Taking in a verified payment event: credited, followed as a refund, kept as an orphan, or given back.

It coordinates the services that each do one of these, so none of them calls another back.
"""

from __future__ import annotations

import logging

from payments.base import ChargeOutcome, PaymentError, PaymentEvent
from payments.telegram_invoice import PaidInTelegram, event_from_successful_payment
from services.crediting import Applied, Crediting, Settlement, UnknownCheckout
from services.log_context import about
from services.metrics import PAYMENTS
from services.orphan_charges import OrphanCharges
from services.refund_events import RefundEvents
from services.refunds import Refunds

log = logging.getLogger(__name__)


class PaymentIntake:
    """Where every payment event goes, whether a provider's notice, a return from checkout or a reconciliation."""

    def __init__(
        self, crediting: Crediting, refunds: Refunds, refund_events: RefundEvents, orphans: OrphanCharges
    ) -> None:
        self.crediting = crediting
        self.refunds = refunds
        self.refund_events = refund_events
        self.orphans = orphans

    async def receive(self, event: PaymentEvent) -> None:
        """Apply the event, and give back money the order could not take."""
        if event.outcome == ChargeOutcome.REFUNDED:
            await self.refund_events.follow(event)
            return
        try:
            settlement = await self.crediting.apply(event)
        except UnknownCheckout:
            if event.outcome != ChargeOutcome.SUCCEEDED:
                raise
            # Money moved all the same: it is kept and told, never only logged.
            PAYMENTS.labels(event.provider, "orphan").inc()
            await self.orphans.receive(event)
            return
        PAYMENTS.labels(event.provider, settlement.applied.value).inc()
        request = settlement.request
        with about(order_id=settlement.order.id, request_id=request.id if request else None):
            await self._give_back_uncredited(settlement)

    async def paid_in_telegram(self, paid: PaidInTelegram) -> None:
        """A successful_payment message (an invoice paid by card or in Stars), taken in as its provider's event."""
        await self.receive(event_from_successful_payment(paid))

    async def _give_back_uncredited(self, settlement: Settlement) -> None:
        if settlement.applied == Applied.NOT_CREDITED and settlement.payment:
            assert settlement.payment.id is not None and settlement.reason is not None
            try:
                await self.refunds.refund(
                    settlement.payment.id, reason=settlement.reason, actor_id=None, tell_failure=True
                )
            except PaymentError:
                # The charge stays recorded as succeeded and not credited: in plain sight for the admins (told
                # why), and refundable again later. The provider's notice itself was applied, so it is not failed.
                log.exception("automatic refund of payment %s failed", settlement.payment.id)
