"""Finding the order (or the orphan charge) an admin names, and what is known of it: /order, /refund."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from services.pay_requests import is_request_token
from services.read_models import (
    CallbackInfo,
    OrderEventInfo,
    OrderInfo,
    OrphanChargeInfo,
    PaymentInfo,
    RefundInfo,
    RequestInfo,
)
from services.tokens import looks_like_token
from storage.database import Database
from storage.models import Order, OrderStatus, Shop
from storage.queries import order_records as records
from storage.queries.orders import order_by_token, order_of_request
from storage.queries.orphan_charges import orphan_charge_named

MAX_ORDER_ID = 2**63 - 1  # a longer run of digits is a token, not an id


@dataclass(frozen=True, slots=True)
class OrderDossier:
    """Everything known about one order, for /order."""

    order: OrderInfo
    shop_name: str
    payments: list[PaymentInfo]
    refunds: list[RefundInfo]
    requests: list[RequestInfo]
    callbacks: list[CallbackInfo]
    events: list[OrderEventInfo]
    names: dict[int, str]  # first names of every person mentioned above


class OrderLookup:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def find_order(self, reference: str) -> OrderInfo | None:
        """The order an admin names: its number ("12" or "#12"), its token, or one of its requests' tokens."""
        async with self.db.transaction() as session:
            found = await _named_order(session, reference.strip().removeprefix("#"))
            return OrderInfo.of(found) if found is not None else None

    async def orphan_charge(self, reference: str) -> OrphanChargeInfo | None:
        """Money kept for a checkout daifu does not know, by the charge id the admins were told of (Telegram's
        or the provider's)."""
        if not reference or len(reference) > 255:
            return None
        async with self.db.transaction() as session:
            found = await orphan_charge_named(session, reference=reference)
            return OrphanChargeInfo.of(found) if found is not None else None

    async def dossier(self, order: OrderInfo) -> OrderDossier:
        async with self.db.transaction() as session:
            shop = await session.get(Shop, order.shop_id)
            payments = await records.payments_of_order(session, order_id=order.id)
            refunds = await records.refunds_of_order(session, order_id=order.id)
            requests = await records.requests_of_order(session, order_id=order.id)
            callbacks = await records.callbacks_of_order(session, order_id=order.id)
            events = await records.events_of_order(session, order_id=order.id)
            people = {order.created_by, order.payer_id}
            people |= {payment.payer_id for payment in payments}
            people |= {refund.actor_id for refund in refunds}
            people |= {request.requester_id for request in requests}
            people |= {event.actor_id for event in events}
            names = await records.first_names(session, user_ids={person for person in people if person is not None})
            return OrderDossier(
                order,
                shop.name if shop else "",
                [PaymentInfo.of(payment) for payment in payments],
                [RefundInfo.of(refund) for refund in refunds],
                [RequestInfo.of(request) for request in requests],
                [CallbackInfo.of(callback) for callback in callbacks],
                [OrderEventInfo.of(event) for event in events],
                names,
            )

    async def charges_to_refund(self, order: OrderInfo) -> list[PaymentInfo]:
        """The charges of the order that still hold money a refund can give back, oldest first.

        Charges credited to the order count only once it is paid: the chip-ins of an order still being
        paid go back when its request is cancelled or expires (/cancel), not piecemeal. Charges that were
        never credited (money that arrived too late, whose automatic refund failed) always count.
        """
        async with self.db.transaction() as session:
            uncredited_only = order.status != OrderStatus.PAID
            charges = await records.charges_to_refund(session, order_id=order.id, uncredited_only=uncredited_only)
            return [PaymentInfo.of(charge) for charge in charges]


async def _named_order(session: AsyncSession, reference: str) -> Order | None:
    if reference.isdigit() and int(reference) <= MAX_ORDER_ID:
        found = await session.get(Order, int(reference))
        if found is not None:
            return found
    if is_request_token(reference):
        return await order_of_request(session, request_token=reference)
    if looks_like_token(reference):
        return await order_by_token(session, token=reference)
    return None
