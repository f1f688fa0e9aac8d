"""One vocabulary of why-nots: the one mapping from an order's or a request's state to its reason, and a sentence
for every reason."""

from __future__ import annotations

from datetime import timedelta

import pytest

from presentation.texts import request_refusal, why_not, why_not_charged
from services.i18n import gettext_for
from services.pay_requests import RequestRefused
from services.why_not import (
    WhyNot,
    order_status_now,
    request_status_now,
    why_not_order,
    why_not_request,
    why_request_closed,
)
from storage.models import Order, OrderStatus, PayRequest, RequestStatus, utcnow

NOW = utcnow()
LATER = NOW + timedelta(hours=1)
EARLIER = NOW - timedelta(hours=1)


def order(status: OrderStatus, expires_at=LATER) -> Order:  # type: ignore[no-untyped-def]
    return Order(
        token="t", shop_id=1, title="Tea", amount_minor=500, currency="USD", status=status, expires_at=expires_at
    )


def request(status: RequestStatus, expires_at=LATER) -> PayRequest:  # type: ignore[no-untyped-def]
    return PayRequest(token="r_t", order_id=1, requester_id=1, status=status, expires_at=expires_at)


@pytest.mark.parametrize(
    ("status", "expires_at", "now_status", "why"),
    [
        (OrderStatus.OPEN, LATER, OrderStatus.OPEN, None),
        (OrderStatus.PENDING, LATER, OrderStatus.PENDING, None),
        (OrderStatus.OPEN, EARLIER, OrderStatus.EXPIRED, WhyNot.ORDER_EXPIRED),
        (OrderStatus.PENDING, EARLIER, OrderStatus.EXPIRED, WhyNot.ORDER_EXPIRED),
        (OrderStatus.EXPIRED, LATER, OrderStatus.EXPIRED, WhyNot.ORDER_EXPIRED),
        (OrderStatus.CANCELLED, LATER, OrderStatus.CANCELLED, WhyNot.ORDER_CANCELLED),
        (OrderStatus.PAID, EARLIER, OrderStatus.PAID, WhyNot.ORDER_PAID),
        (OrderStatus.REFUNDED, LATER, OrderStatus.REFUNDED, WhyNot.ORDER_REFUNDED),
    ],
)
def test_an_order_past_its_time_is_expired_and_a_closed_one_says_why(
    status: OrderStatus, expires_at: object, now_status: OrderStatus, why: WhyNot | None
) -> None:
    assert order_status_now(order(status, expires_at), NOW) == now_status
    assert why_not_order(order(status, expires_at), NOW) == why


@pytest.mark.parametrize(
    ("status", "expires_at", "now_status", "why"),
    [
        (RequestStatus.OPEN, LATER, RequestStatus.OPEN, None),
        (RequestStatus.OPEN, EARLIER, RequestStatus.EXPIRED, WhyNot.REQUEST_EXPIRED),
        (RequestStatus.CANCELLED, LATER, RequestStatus.CANCELLED, WhyNot.REQUEST_CANCELLED),
        (RequestStatus.PAID, LATER, RequestStatus.PAID, WhyNot.REQUEST_PAID),
    ],
)
def test_a_request_past_its_time_is_expired_and_a_closed_one_says_why(
    status: RequestStatus, expires_at: object, now_status: RequestStatus, why: WhyNot | None
) -> None:
    assert request_status_now(request(status, expires_at), NOW) == now_status
    assert why_request_closed(request(status, expires_at), NOW) == why
    assert why_not_request(request(status, expires_at), order(OrderStatus.OPEN), NOW) == why


def test_an_open_request_of_a_closed_order_says_so_and_the_request_speaks_first() -> None:
    paid = order(OrderStatus.PAID)
    assert why_not_request(request(RequestStatus.OPEN), paid, NOW) == WhyNot.REQUEST_ORDER_CLOSED
    assert why_not_request(request(RequestStatus.OPEN), order(OrderStatus.OPEN, EARLIER), NOW) == (
        WhyNot.REQUEST_ORDER_CLOSED
    )
    assert why_not_request(request(RequestStatus.CANCELLED), paid, NOW) == WhyNot.REQUEST_CANCELLED


@pytest.mark.parametrize("locale", ["en", "zh_Hans"])
def test_every_reason_has_its_sentence(locale: str) -> None:
    _ = gettext_for(locale)
    told_with_details = {WhyNot.HELD, WhyNot.HOLD_SPENT, WhyNot.BEING_PAID}
    only_at_payment = {WhyNot.CHANGED}
    for why in WhyNot:
        if why in told_with_details:
            assert request_refusal(RequestRefused(why), locale, _)
        elif why not in only_at_payment:
            assert why_not(why, _) == request_refusal(RequestRefused(why), locale, _)
    # What Telegram's last step can refuse: the order's state, the request's, the invoice, the hold and the part.
    for why in WhyNot:
        if why.name.startswith(("ORDER_", "REQUEST_")) and why != WhyNot.REQUEST_ORDER_CLOSED:
            assert "not charged" in why_not_charged(why, gettext_for("en"))
    for why in (WhyNot.UNKNOWN_ORDER, WhyNot.CHANGED, WhyNot.HELD, WhyNot.BEING_PAID):
        assert why_not_charged(why, _)
