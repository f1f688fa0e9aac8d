"""Callbacks to shops, written to an outbox in the same transaction as the change they report.

A row per event with a stable event id: the delivery job (services.callback_delivery) POSTs it, signed,
until the shop answers 2xx, so a crash between the change and the POST loses nothing. It is the same habit as
what people are told in the chat (services.telling), with a delivery of its own: shops are retried for a day
with backoff and de-duplicate on the event id, people are told once by the teller.
"""

from __future__ import annotations

import json
import secrets

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import CallbackDelivery, Order, OrderStatus, Payment, PayRequest, RequestMode, utcnow

KINDS = {
    OrderStatus.PAID: "order.paid",
    OrderStatus.REFUNDED: "order.refunded",
    OrderStatus.CANCELLED: "order.cancelled",
    OrderStatus.EXPIRED: "order.expired",
}


async def payer_kind(session: AsyncSession, payments: list[Payment]) -> str | None:
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


async def enqueue_callback(session: AsyncSession, order_id: int, kind: str) -> None:
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
    payments = list(
        (await session.exec(select(Payment).where(Payment.order_id == order.id, col(Payment.credited).is_(True)))).all()
    )
    event_id = "evt_" + secrets.token_hex(16)
    payload = {
        "id": event_id,
        "type": kind,
        "created_at": utcnow().isoformat(),
        "order": {
            "id": order.id,
            "token": order.token,
            "external_id": order.external_id,
            "status": OrderStatus(order.status).value,
            "title": order.title,
            "amount_minor": order.amount_minor,
            "currency": order.currency,
        },
        "amounts": {
            "paid": [{"amount_minor": p.amount_minor, "currency": p.currency} for p in payments],
            "refunded": [
                {"amount_minor": p.refunded_minor, "currency": p.currency} for p in payments if p.refunded_minor
            ],
        },
        "payer_kind": await payer_kind(session, payments),
    }
    session.add(
        CallbackDelivery(
            event_id=event_id,
            shop_id=order.shop_id,
            order_id=order.id,
            kind=kind,
            url=order.callback_url,
            payload=json.dumps(payload, separators=(",", ":")),
        )
    )
