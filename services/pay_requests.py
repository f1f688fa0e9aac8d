"""Pay for me: a shopper asks a friend (or several friends, chipping in) to pay an order for them.

A request has its own token ("r_" + 128 random bits, so it can never be mistaken for an order token), an
expiry that never outlives its order, and in single mode a hold: the friend who starts paying holds the
request for a while, and nobody else can start until it lapses. The hold is taken by one conditional
UPDATE of the request's row, so two workers on one PostgreSQL can never both grant it.

This module holds what every part of pay-for-me shares: request tokens, RequestRefused, the RequestView read model
and the part a friend pays. The services are one per thing a reader looks for: asking (services.asking), reading
(services.request_views), holds and chip-in parts (services.request_holds), a request's checkout
(services.request_checkout), closing and expiry (services.request_closing), reminders (services.request_reminders)
and the cards posted in chats (services.request_cards).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.money import Money
from services.read_models import OrderInfo, PaymentInfo, RequestInfo, RequestMode, RequestStatus
from services.tokens import REQUEST_PREFIX, looks_like_token, new_token
from services.why_not import WhyNot, request_status_now


def new_request_token() -> str:
    return REQUEST_PREFIX + new_token()


def is_request_token(text: str) -> bool:
    return text.startswith(REQUEST_PREFIX) and looks_like_token(text)


def telegram_holder(user_id: int) -> str:
    return f"tg:{user_id}"


class RequestRefused(Exception):
    def __init__(
        self,
        why: WhyNot,
        *,
        holder_name: str | None = None,
        hold_until: datetime | None = None,
        available: Money | None = None,
    ) -> None:
        super().__init__(why.value)
        self.why = why
        self.holder_name = holder_name
        self.hold_until = hold_until
        self.available = available  # BEING_PAID: what is left over for this friend now


def is_held_by_other(request: RequestInfo, holder: str, now: datetime) -> bool:
    return (
        request.holder is not None
        and request.holder != holder
        and request.hold_until is not None
        and request.hold_until > now
    )


@dataclass(frozen=True, slots=True)
class RequestView:
    """A request, its order and the charges credited to it, as read together (read models: see services.read_models)."""

    request: RequestInfo
    order: OrderInfo
    requester_name: str
    contributions: list[PaymentInfo]  # credited charges, oldest first
    # Split: parts of chip-ins other friends have started and not finished yet (kept for them a while), as
    # seen by the friend this view was read for (RequestView from RequestViews.payable); 0 otherwise.
    kept_minor: int = 0

    @property
    def total(self) -> Money:
        return Money(self.order.amount_minor, self.order.currency)

    @property
    def remaining(self) -> Money:
        """What is left for this friend to pay: not covered, and not being paid by others right now."""
        left = self.order.amount_minor - self.request.covered_minor - self.kept_minor
        return Money(max(0, left), self.order.currency)

    @property
    def kept(self) -> Money:
        return Money(self.kept_minor, self.order.currency)

    @property
    def equal_share(self) -> Money | None:
        """In split mode with a number of friends, each one's equal share of the total, rounded up so that the
        shares cover it ($10.00 in three: $3.34 each)."""
        if self.request.mode != RequestMode.SPLIT or not self.request.shares:
            return None
        return Money(-(-self.order.amount_minor // self.request.shares), self.order.currency)

    @property
    def share(self) -> Money | None:
        """In split mode, an equal share of the total (never more than what is left)."""
        equal = self.equal_share
        return None if equal is None else Money(min(equal.minor, self.remaining.minor), self.order.currency)

    def status(self, now: datetime) -> RequestStatus:
        return request_status_now(self.request, now)

    def holder_now(self, now: datetime) -> str | None:
        """The name of the friend paying right now, if a hold is running."""
        request = self.request
        if request.holder and request.hold_until and request.hold_until > now:
            return request.holder_name or ""
        return None


def part_to_pay(view: RequestView, amount: Money | None) -> Money:
    """What a friend pays of a request found payable moments ago (RequestView from RequestViews.payable): all of a
    single one; of a split one the part they chose (what is left for them if none), no more than what is not covered
    yet. What friends paying right now keep is weighed when the part is taken, under a lock (RequestHolds.take_in)."""
    if view.request.mode != RequestMode.SPLIT:
        return view.total
    part = amount or view.remaining
    uncovered = view.order.amount_minor - view.request.covered_minor
    if part.currency != view.order.currency or not 0 <= part.minor <= uncovered:
        raise RequestRefused(WhyNot.BAD_AMOUNT)
    if part.minor == 0:
        raise RequestRefused(WhyNot.BEING_PAID if view.kept_minor else WhyNot.BAD_AMOUNT, available=view.remaining)
    return part
