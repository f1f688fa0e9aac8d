"""Closing orders: cancelled by an admin or the shop's API, or expired. Closing an order closes its
requests (cards edited, holds released, chip-ins refunded) and its checkouts at the providers."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from payments.base import CheckoutRef, PaymentError, PaymentProvider
from services.money import Money
from services.order_states import move
from services.orders import Orders
from services.request_closing import RequestClosing
from services.telling import Tellings
from storage.database import Database
from storage.models import OrderStatus, RequestStatus
from storage.queries.attempts import decline_pending_attempts, pending_attempts_of_order
from storage.queries.pay_requests import open_requests_of_order

log = logging.getLogger(__name__)


class OrderNotCancellable(Exception):
    def __init__(self, status: OrderStatus) -> None:
        super().__init__(status.value)
        self.status = status


@dataclass(frozen=True, slots=True)
class Closed:
    """What closing an order closed with it (its people are told: services.telling)."""

    requests: int = 0  # pay-for-me requests closed
    returned: int = 0  # chip-ins given back


class OrderClosing:
    def __init__(
        self,
        db: Database,
        orders: Orders,
        requests: RequestClosing,
        providers: Mapping[str, PaymentProvider],
        tellings: Tellings,
    ) -> None:
        self.db = db
        self.tellings = tellings
        self.orders = orders
        self.requests = requests
        self.providers = providers

    async def cancel(self, order_id: int, *, actor_id: int | None) -> Closed:
        async with self.db.transaction() as session:
            moved = await move(session, order_id, OrderStatus.CANCELLED, actor_id=actor_id)
            if moved.done:
                await self.tellings.tidy(session, order_id=order_id, reason=OrderStatus.CANCELLED.value)
        if not moved.done:
            raise OrderNotCancellable(moved.status)
        return await self._close_dependents(order_id, RequestStatus.CANCELLED, actor_id)

    async def expire_due(self) -> None:
        for order_id in await self.orders.expire_due():
            try:  # each order alone: one whose requests or checkouts cannot be closed must not keep the others open
                await self._close_dependents(order_id, RequestStatus.EXPIRED, None)
            except Exception:
                log.exception("closing what depends on expired order %s failed", order_id)

    async def _close_dependents(self, order_id: int, status: RequestStatus, actor_id: int | None) -> Closed:
        async with self.db.transaction() as session:
            request_ids = await open_requests_of_order(session, order_id=order_id)
            attempts = await pending_attempts_of_order(session, order_id=order_id)
            # A checkout that completes anyway after this is refunded (settlement sees the order closed).
            await decline_pending_attempts(session, order_id=order_id)
        requests = returned = 0
        for request_id in request_ids:
            given_back = await self.requests.close(request_id, status, actor_id=actor_id)
            if given_back is not None:
                requests, returned = requests + 1, returned + len(given_back)
        for attempt in attempts:
            provider = self.providers.get(attempt.provider)
            if provider is None:
                continue
            try:
                await provider.close(
                    CheckoutRef(
                        attempt.checkout_ref,
                        attempt.provider_checkout_id,
                        Money(attempt.amount_minor, attempt.currency),
                    )
                )
            except PaymentError as error:
                log.warning("could not close %s checkout %s: %s", attempt.provider, attempt.checkout_ref, error)
        return Closed(requests, returned)
