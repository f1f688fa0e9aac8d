"""What became of one of a person's orders, in words: shared by /my in the chat and the Mini App's API."""

from __future__ import annotations

from collections.abc import Callable

from presentation.formatting import esc, order_price
from presentation.texts import status_name
from services.i18n import Gettext
from services.money import Money, format_money
from services.person_orders import PersonOrder
from services.read_models import OrderStatus, PaymentInfo, RequestMode, RequestStatus, utcnow
from services.why_not import request_status_now, why_not_order


def request_open(entry: PersonOrder) -> bool:
    request = entry.request
    return request is not None and request_status_now(request, utcnow()) == RequestStatus.OPEN


def chipped_in(entry: PersonOrder) -> list[PaymentInfo]:
    request = entry.request
    return [charge for charge in entry.charges if request is not None and charge.request_id == request.id]


def status_words(entry: PersonOrder, locale: str, _: Gettext, quote: Callable[[str], str] = esc) -> str:
    """What became of the order, as its person would say it: "waiting for a friend to pay · 1 of 3 chipped in",
    "paid by Bob", "refunded". Names are quoted for the chat's HTML unless another quote is given (JSON: none)."""
    order, request, now = entry.order, entry.request, utcnow()
    if order.status == OrderStatus.PAID:
        if entry.friends:
            names = ", ".join(name or _("a friend") for name in entry.friends)
            return _("paid by {names}").format(names=quote(names))
        return _("paid by you") if entry.charges else status_name(order.status, _)
    if order.status not in (OrderStatus.OPEN, OrderStatus.PENDING):
        return status_name(order.status, _)
    if why_not_order(order, now) is not None:  # past its time, not expired by the housekeeping job yet
        return status_name(OrderStatus.EXPIRED, _)
    if request is None:
        return status_name(order.status, _)
    request_status = request_status_now(request, now)
    if request_status != RequestStatus.OPEN:
        return _("not paid · your request to friends: {status}").format(status=status_name(request_status, _))
    holding = request.holder and request.hold_until and request.hold_until > now
    if request.mode == RequestMode.SINGLE and holding:
        return _("{name} is paying…").format(name=quote(request.holder_name or _("a friend")))
    words = _("waiting for a friend to pay")
    if request.mode == RequestMode.SPLIT:
        if request.shares:
            chipped = _("{count} of {shares} chipped in").format(count=len(chipped_in(entry)), shares=request.shares)
        else:
            chipped = _("{covered} of {total} covered").format(
                covered=format_money(Money(request.covered_minor, order.currency), locale),
                total=order_price(order, locale),
            )
        words += " · " + chipped
    return words
