"""Finding the order (or the orphan charge) an admin names, and what is known of it: /order, /refund."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import ColumnElement, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

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
from storage.models import (
    CallbackDelivery,
    Order,
    OrderEvent,
    OrderStatus,
    OrphanCharge,
    Payment,
    PaymentStatus,
    PayRequest,
    Refund,
    Shop,
    User,
)

T = TypeVar("T")
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
        named = or_(col(OrphanCharge.charge_ref) == reference, col(OrphanCharge.provider_charge_ref) == reference)
        async with self.db.transaction() as session:
            found = (await session.exec(select(OrphanCharge).where(named).order_by(col(OrphanCharge.id)))).first()
            return OrphanChargeInfo.of(found) if found is not None else None

    async def dossier(self, order: OrderInfo) -> OrderDossier:
        async with self.db.transaction() as session:

            async def of_order(statement: SelectOfScalar[T]) -> list[T]:
                return list((await session.exec(statement)).all())

            shop = await session.get(Shop, order.shop_id)
            payments = await of_order(
                select(Payment).where(col(Payment.order_id) == order.id).order_by(col(Payment.id))
            )
            refunds = await of_order(
                select(Refund)
                .join(Payment, col(Payment.id) == col(Refund.payment_id))
                .where(col(Payment.order_id) == order.id)
                .order_by(col(Refund.id))
            )
            requests = await of_order(
                select(PayRequest).where(col(PayRequest.order_id) == order.id).order_by(col(PayRequest.id))
            )
            callbacks = await of_order(
                select(CallbackDelivery)
                .where(col(CallbackDelivery.order_id) == order.id)
                .order_by(col(CallbackDelivery.id))
            )
            events = await of_order(
                select(OrderEvent).where(col(OrderEvent.order_id) == order.id).order_by(col(OrderEvent.id))
            )
            people = {order.created_by, order.payer_id}
            people |= {payment.payer_id for payment in payments}
            people |= {refund.actor_id for refund in refunds}
            people |= {request.requester_id for request in requests}
            people |= {event.actor_id for event in events}
            names = await _names(session, {person for person in people if person is not None})
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
        conditions: list[ColumnElement[bool]] = [
            col(Payment.order_id) == order.id,
            col(Payment.status) == PaymentStatus.SUCCEEDED,
            col(Payment.provider_ref).is_not(None),
            col(Payment.refunded_minor) < col(Payment.amount_minor),
        ]
        if order.status != OrderStatus.PAID:
            conditions.append(col(Payment.credited).is_(False))
        async with self.db.transaction() as session:
            charges = (await session.exec(select(Payment).where(*conditions).order_by(col(Payment.id)))).all()
            return [PaymentInfo.of(charge) for charge in charges]


async def _named_order(session: AsyncSession, reference: str) -> Order | None:
    if reference.isdigit() and int(reference) <= MAX_ORDER_ID:
        found = await session.get(Order, int(reference))
        if found is not None:
            return found
    if is_request_token(reference):
        return (
            await session.exec(
                select(Order)
                .join(PayRequest, col(PayRequest.order_id) == col(Order.id))
                .where(PayRequest.token == reference)
            )
        ).first()
    if looks_like_token(reference):
        return (await session.exec(select(Order).where(Order.token == reference))).first()
    return None


async def _names(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = (await session.exec(select(User.id, User.first_name).where(col(User.id).in_(ids)))).all()
    return {user_id: name for user_id, name in rows}
