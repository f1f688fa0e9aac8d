"""Why an order or a pay-for-me request cannot take money (or a step on one cannot be taken): one set of reasons
for the pre-checkout guard, the pages and the messages, and the one mapping from a state to its reason."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from services.order_states import PAYABLE
from services.read_models import OrderInfo, RequestInfo
from storage.models import Order, OrderStatus, PayRequest, RequestStatus


class WhyNot(StrEnum):
    # Nothing by that link, token or invoice payload.
    UNKNOWN_ORDER = "unknown_order"
    UNKNOWN_REQUEST = "unknown_request"
    # The order's state.
    ORDER_EXPIRED = "order_expired"
    ORDER_CANCELLED = "order_cancelled"
    ORDER_PAID = "order_paid"
    ORDER_REFUNDED = "order_refunded"
    # The request's state, then its order's.
    REQUEST_EXPIRED = "request_expired"
    REQUEST_CANCELLED = "request_cancelled"
    REQUEST_PAID = "request_paid"
    REQUEST_ORDER_CLOSED = "request_order_closed"  # the request is open, the order behind it can no longer be paid
    # Paying now.
    CHANGED = "changed"  # the invoice's amount, currency or payload differ from what the order asks
    HELD = "held"  # a single request another friend is paying right now
    HOLD_SPENT = "hold_spent"  # this payer held it as long as one may: others may start now, they later
    BEING_PAID = "being_paid"  # a chip-in of more than other friends' payments, made or running, leave over
    BAD_AMOUNT = "bad_amount"  # a chip-in of nothing, or of more than is left
    # Asking friends, and calling a request off.
    NOT_ALLOWED = "not_allowed"  # the shop switched pay-for-me off for this order
    TOO_MANY_OPEN = "too_many_open"
    NOT_REQUESTER = "not_requester"


# Open and pending orders, and open requests, can take money: they have no reason here.
ORDER_CLOSED: Mapping[OrderStatus, WhyNot] = MappingProxyType(
    {
        OrderStatus.EXPIRED: WhyNot.ORDER_EXPIRED,
        OrderStatus.CANCELLED: WhyNot.ORDER_CANCELLED,
        OrderStatus.PAID: WhyNot.ORDER_PAID,
        OrderStatus.REFUNDED: WhyNot.ORDER_REFUNDED,
    }
)
REQUEST_CLOSED: Mapping[RequestStatus, WhyNot] = MappingProxyType(
    {
        RequestStatus.EXPIRED: WhyNot.REQUEST_EXPIRED,
        RequestStatus.CANCELLED: WhyNot.REQUEST_CANCELLED,
        RequestStatus.PAID: WhyNot.REQUEST_PAID,
    }
)


def order_status_now(order: Order | OrderInfo, now: datetime) -> OrderStatus:
    """An open or pending order past its time is expired, even before the expiry job has run."""
    status = OrderStatus(order.status)  # the column is plain text: read back as str
    return OrderStatus.EXPIRED if status in PAYABLE and order.expires_at <= now else status


def request_status_now(request: PayRequest | RequestInfo, now: datetime) -> RequestStatus:
    """An open request past its time is expired, even before the expiry job has run."""
    status = RequestStatus(request.status)
    return RequestStatus.EXPIRED if status == RequestStatus.OPEN and request.expires_at <= now else status


def why_not_order(order: Order | OrderInfo, now: datetime) -> WhyNot | None:
    """Why this order cannot take money now; None while it can."""
    return ORDER_CLOSED.get(order_status_now(order, now))


def why_request_closed(request: PayRequest | RequestInfo, now: datetime) -> WhyNot | None:
    """Why this request, whatever its order, cannot take money now; None while it is open."""
    return REQUEST_CLOSED.get(request_status_now(request, now))


def why_not_request(request: PayRequest | RequestInfo, order: Order | OrderInfo, now: datetime) -> WhyNot | None:
    """Why this request cannot take money now: its own state first, then its order's. None while it can."""
    why = why_request_closed(request, now)
    if why is None and why_not_order(order, now) is not None:
        return WhyNot.REQUEST_ORDER_CLOSED
    return why
