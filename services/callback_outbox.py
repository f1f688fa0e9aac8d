"""Callbacks to shops, written to an outbox in the same transaction as the change they report.

A row per event with a stable event id: the delivery job (services.callback_delivery) POSTs it, signed,
until the shop answers 2xx, so a crash between the change and the POST loses nothing. It is the same habit as
what people are told in the chat (services.telling), with a delivery of its own: shops are retried for a day
with backoff and de-duplicate on the event id, people are told once by the teller.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from typing import Literal

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import CallbackDelivery, Order, OrderStatus, Payment, PayRequest, RequestMode, utcnow
from storage.queries.charges import credited_to_order

CallbackKind = Literal["order.paid", "order.refunded", "order.cancelled", "order.expired"]
PayerKind = Literal["shopper", "friend", "friends"]
KINDS: dict[OrderStatus, CallbackKind] = {
    OrderStatus.PAID: "order.paid",
    OrderStatus.REFUNDED: "order.refunded",
    OrderStatus.CANCELLED: "order.cancelled",
    OrderStatus.EXPIRED: "order.expired",
}


# The body of a callback, as typed read models: the OpenAPI document's callback schema is generated from them.
@dataclass(frozen=True, slots=True)
class CallbackOrder:
    """The order as it is after the change."""

    id: int
    token: str
    external_id: str | None
    status: str
    title: str
    amount_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class CallbackAmount:
    """A sum in minor units of its currency."""

    amount_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class CallbackAmounts:
    """What was paid, and what was given back, per charge in the charge's currency."""

    paid: list[CallbackAmount]
    refunded: list[CallbackAmount]


@dataclass(frozen=True, slots=True)
class CallbackEvent:
    """One change of one order, as POSTed to the order's callback URL."""

    id: str  # also sent as the Daifu-Event-Id header
    type: CallbackKind
    created_at: str
    order: CallbackOrder
    amounts: CallbackAmounts
    payer_kind: PayerKind | None


async def payer_kind(session: AsyncSession, payments: list[Payment]) -> PayerKind | None:
    """Who paid, in the shop's words: the shopper, a friend, or friends chipping in."""
    if not payments:
        return None
    request_id = payments[0].request_id
    if request_id is None:
        return "shopper"
    request = await session.get(PayRequest, request_id)
    if request is not None and request.mode == RequestMode.SPLIT:
        return "friends"
    if request is not None and payments[0].payer_id == request.requester_id:
        return "shopper"
    return "friend"


async def enqueue_callback(session: AsyncSession, order_id: int, kind: CallbackKind) -> None:
    """Add the callback for this change of the order, if the order came with a callback URL."""
    # A callback URL is set when the order is made and never changes: the session's copy, if it has one,
    # answers that without a query (most orders, made in chat, have none).
    known = await session.get(Order, order_id)
    if known is None or not known.callback_url:
        return
    order = await session.get(Order, order_id, populate_existing=True)
    if order is None or not order.callback_url:
        return
    assert order.id is not None
    payments = await credited_to_order(session, order_id=order.id)
    event_id = "evt_" + secrets.token_hex(16)
    event = CallbackEvent(
        id=event_id,
        type=kind,
        created_at=utcnow().isoformat(),
        order=CallbackOrder(
            id=order.id,
            token=order.token,
            external_id=order.external_id,
            status=OrderStatus(order.status).value,
            title=order.title,
            amount_minor=order.amount_minor,
            currency=order.currency,
        ),
        amounts=CallbackAmounts(
            paid=[CallbackAmount(p.amount_minor, p.currency) for p in payments],
            refunded=[CallbackAmount(p.refunded_minor, p.currency) for p in payments if p.refunded_minor],
        ),
        payer_kind=await payer_kind(session, payments),
    )
    session.add(
        CallbackDelivery(
            event_id=event_id,
            shop_id=order.shop_id,
            order_id=order.id,
            kind=kind,
            url=order.callback_url,
            payload=json.dumps(asdict(event), separators=(",", ":")),
        )
    )
