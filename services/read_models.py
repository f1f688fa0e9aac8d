"""What handlers and web pages read: frozen copies of rows, taken by the services inside their transaction.

The chat and the pages never hold a table object: nothing they do can write a row by accident, and nothing they read
can reach back to a closed session (an async lazy load there fails, on PostgreSQL only). The statuses and modes are
the tables' own enums, named here so that the floors above need nothing from storage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Self

from services.money import Money
from storage.models import OrderStatus, PaymentStatus, RequestMode, RequestStatus, utcnow

__all__ = [
    "CallbackInfo",
    "CardInfo",
    "LiveMessageInfo",
    "OrderEventInfo",
    "OrderInfo",
    "OrderStatus",
    "OrphanChargeInfo",
    "PaymentInfo",
    "PaymentStatus",
    "ProviderHealthInfo",
    "RefundInfo",
    "RequestInfo",
    "RequestMode",
    "RequestStatus",
    "ShopInfo",
    "utcnow",
]


class _Copied:
    __match_args__: ClassVar[tuple[str, ...]]

    @classmethod
    def of(cls, row: Any) -> Self:
        """A copy of the row's fields this read model names (dataclasses list them, in order, in __match_args__).

        A loaded row keeps its columns in its __dict__ (sessions do not expire on commit): read there, as the
        instrumented attribute costs five times more, and it is done on every update's path."""
        loaded = row.__dict__
        return cls(*[loaded[name] if name in loaded else getattr(row, name) for name in cls.__match_args__])

    @classmethod
    def of_columns(cls, columns: Mapping[Any, Any]) -> Self:
        """A copy of a row read in Core (storage's hot reads), its columns by name."""
        return cls(*[columns[name] for name in cls.__match_args__])


@dataclass(frozen=True, slots=True)
class OrderInfo(_Copied):
    id: int
    token: str
    shop_id: int
    title: str
    description: str
    amount_minor: int
    currency: str
    status: OrderStatus
    created_by: int | None
    payer_id: int | None
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    external_id: str | None
    callback_url: str | None
    allowed_methods: str | None
    payforme_allowed: bool

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)


@dataclass(frozen=True, slots=True)
class PaymentInfo(_Copied):
    """A checkout attempt, or a charge once money moved (credited)."""

    id: int
    order_id: int
    provider: str
    checkout_ref: str
    provider_ref: str | None
    provider_charge_ref: str | None
    amount_minor: int
    currency: str
    status: PaymentStatus
    credited: bool
    payer_id: int | None
    request_id: int | None
    payer_name: str | None
    show_name: bool
    credit_minor: int | None
    refunded_minor: int
    created_at: datetime
    settled_at: datetime | None
    declined_at: datetime | None
    refunded_at: datetime | None
    checkout_kind: str | None
    checkout_link: str | None
    checkout_expires_at: datetime | None
    provider_checkout_id: str | None

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)

    @property
    def left_to_refund(self) -> Money:
        return Money(self.amount_minor - self.refunded_minor, self.currency)


@dataclass(frozen=True, slots=True)
class RequestInfo(_Copied):
    """A pay-for-me request as it stood when read."""

    id: int
    token: str
    order_id: int
    requester_id: int
    mode: RequestMode
    shares: int | None
    note: str
    status: RequestStatus
    created_at: datetime
    expires_at: datetime
    reminded_at: datetime | None
    covered_minor: int
    holder: str | None
    holder_name: str | None
    hold_until: datetime | None
    hold_limit: datetime | None
    friends_reminded_at: datetime | None


@dataclass(frozen=True, slots=True)
class RefundInfo(_Copied):
    id: int
    payment_id: int
    amount_minor: int
    currency: str
    status: str
    reason: str
    provider_refund_ref: str | None
    actor_id: int | None
    created_at: datetime
    error: str | None
    finished_at: datetime | None
    asked_minor: int | None  # what daifu asked to give back (amount_minor: what the provider says it gave)

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)


@dataclass(frozen=True, slots=True)
class OrphanChargeInfo(_Copied):
    """Money that arrived for no order daifu could credit."""

    id: int
    provider: str
    charge_ref: str
    provider_charge_ref: str | None
    payload: str
    amount_minor: int
    currency: str
    payer_id: int | None
    status: str
    refund_ref: str | None
    error: str | None
    created_at: datetime

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)


@dataclass(frozen=True, slots=True)
class CallbackInfo(_Copied):
    """One signed callback to a shop, delivered or still being tried."""

    id: int
    event_id: str
    shop_id: int
    order_id: int
    kind: str
    url: str
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CardInfo(_Copied):
    """Where a request's card was posted: an inline message, or a chat's message."""

    id: int
    request_id: int
    inline_message_id: str | None
    chat_id: int | None
    message_id: int | None


@dataclass(frozen=True, slots=True)
class ProviderHealthInfo(_Copied):
    provider: str
    last_call_at: datetime
    ok: bool
    error: str | None


@dataclass(frozen=True, slots=True)
class ShopInfo(_Copied):
    """A shop as its API key names it (its callback secret stays in the services)."""

    id: int
    name: str


@dataclass(frozen=True, slots=True)
class OrderEventInfo(_Copied):
    """One line of an order's timeline, as /order shows it."""

    id: int
    order_id: int
    kind: str
    actor_id: int | None
    detail: str  # JSON
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LiveMessageInfo(_Copied):
    """A message that offers to pay, share, cancel or chip in, to tidy once its order or request is finished."""

    id: int
    kind: str
    chat_id: int | None  # None for a message posted through the chat picker: inline_message_id names it
    message_id: int | None
    order_id: int
    request_id: int | None
    checkout_ref: str | None
    locale: str
    text: str | None
    inline_message_id: str | None
