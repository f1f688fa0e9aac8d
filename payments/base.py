"""The payment-adapter protocol and the typed values that cross it.

Providers know nothing of chats or tables: they turn a checkout request into what the payer must do,
turn a provider's notice into a verified event, and refund or query a charge. The core decides what
any of it means for an order. Each provider's module also says what it can do (Capabilities), which
settings it reads (its ProviderSettings) and how it is built from them (ProviderKind), for the registry.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from payments.currencies import legal_tender


def secrets_match(given: object, expected: str | bytes) -> bool:
    """Whether a secret someone sent (a signature, a token, a header) is the one expected, compared in constant
    time. Anything malformed is simply not a match: missing, non-ASCII (hmac.compare_digest raises TypeError on
    such a str), undecodable bytes kept as surrogates, any length. Every verifier compares through this."""
    if isinstance(given, str):
        if not given.isascii():
            return False
        given = given.encode("ascii")
    if not isinstance(given, bytes):
        return False
    if isinstance(expected, str):
        expected = expected.encode()
    return hmac.compare_digest(given, expected)


class PaymentError(Exception):
    """A provider call failed; the message is safe to log, never shown raw to a shopper."""


class NotSupported(PaymentError):
    """The provider cannot do this (for example: refund a Telegram card payment through the bot)."""


class InvalidNotice(PaymentError):
    """A notice failed verification: forged, stale, malformed. Nothing may be credited from it."""


class CheckoutKind(StrEnum):
    INVOICE = "invoice"  # a Telegram invoice the bot sends into the chat
    URL = "url"  # a page the payer opens
    QR = "qr"  # a payload the payer scans with another app


class ChargeOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    PENDING = "pending"
    REFUNDED = "refunded"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a provider can do, as data in the protocol: the core reads it from the provider, never from its name."""

    # The currencies it takes payment in; None: every currency that is legal tender somewhere (not Stars).
    currencies: frozenset[str] | None = None
    # The one currency it charges in whatever an order is priced in: other prices are converted at the shop's
    # rates (Stars, at STARS_RATES). None: it charges an order in the order's own currency.
    converts_to: str | None = None
    refunds: bool = True  # gives money back through daifu; False: a refund is owed, made at the provider by hand
    partial_refunds: bool = True  # gives back part of a charge, not only all that is left of it
    # Whether a checkout it made (a page or a code to scan) stays payable as it was made until it expires, so
    # a payer who asks again is shown the same one. When False (a Telegram invoice is a message) the payer's
    # open attempt is reused and its checkout made again: either way one payer has one open attempt.
    reuses_open_checkout: bool = True
    # Paid inside the Telegram app (an invoice): Telegram reports the payment as an update, names the charge
    # with its own id, and a payer with no Telegram (a friend on a request's web page) cannot use it.
    paid_inside_telegram: bool = False
    # Every charge it reports is for a checkout of this bot's (Telegram reports only payments of the bot's own
    # invoices): one for a checkout daifu does not know is still the bot's money, to give back at once.
    charges_are_ours: bool = False
    # How long the provider remembers a refund key: a refund resumed later must ask what became of it before
    # sending it again. None: it remembers for good (or its keys are its refund numbers).
    refund_key_lasts: timedelta | None = None

    def takes(self, currency: str) -> bool:
        """Whether it takes payment in this currency (one that converts prices: in the currency it converts to)."""
        if self.currencies is None:
            return currency in legal_tender()
        return currency in self.currencies


@dataclass(frozen=True, slots=True)
class Amount:
    """Integer minor units and an ISO 4217 code, as providers see money."""

    minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class CheckoutRequest:
    checkout_ref: str  # daifu's id for this attempt, unique; providers echo it back in notices
    order_token: str
    title: str
    description: str
    amount: Amount
    expires_at: datetime
    return_url: str  # where a web checkout sends the payer afterwards


@dataclass(frozen=True, slots=True)
class InvoiceSpec:
    """What the bot passes to sendInvoice; payload is at most 128 bytes."""

    title: str
    description: str
    payload: str
    currency: str
    amount_minor: int
    provider_token: str  # empty for Stars


@dataclass(frozen=True, slots=True)
class Checkout:
    provider: str
    kind: CheckoutKind
    checkout_ref: str
    amount: Amount  # what the payer is charged, which may differ in currency (Stars)
    expires_at: datetime
    url: str | None = None
    qr_payload: str | None = None
    invoice: InvoiceSpec | None = None
    provider_checkout_id: str | None = None  # the provider's id for it (a Stripe session), if it has one


@dataclass(frozen=True, slots=True)
class PaymentEvent:
    """A verified statement from a provider that a charge for a checkout succeeded or failed."""

    provider: str
    event_id: str  # the provider's idempotency key for this notice
    checkout_ref: str
    charge_ref: str  # the provider's id of the charge; unique per provider
    outcome: ChargeOutcome
    amount: Amount
    payer_ref: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


class RefundStatus(StrEnum):
    SUCCEEDED = "succeeded"  # the money is on its way back to the payer: the provider says so
    PENDING = "pending"  # accepted, not finished (Stripe's pending or requires_action, WeChat's PROCESSING)
    FAILED = "failed"  # the money did not go back (the payer's card closed, the provider refused it later)


@dataclass(frozen=True, slots=True)
class Refund:
    """A refund as the provider reports it: its amount is what the provider gives back, which may be less than
    was asked (a whole refund after a part was given back outside daifu returns only what was left)."""

    refund_ref: str
    amount: Amount
    status: RefundStatus
    failure: str | None = None  # why it failed, in the provider's words
    refund_key: str | None = None  # daifu's key for it, when the provider reports it (a refund event)


@dataclass(frozen=True, slots=True)
class NoticeReply:
    """What the provider expects back from a notify endpoint (WeChat wants JSON, Alipay the word success)."""

    status: int
    body: str
    content_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class RefundRequest:
    charge_ref: str
    amount: Amount  # the part to give back, in the charge's currency
    charge_amount: Amount  # the whole charge (WeChat Pay wants both)
    refund_key: str  # daifu's id for this refund: the idempotency key, and the provider's refund number
    payer_ref: str | None = None  # a Telegram user id, for Stars


@dataclass(frozen=True, slots=True)
class CheckoutRef:
    """Enough to find a checkout at its provider again."""

    checkout_ref: str
    provider_checkout_id: str | None
    amount: Amount


@runtime_checkable
class PaymentProvider(Protocol):
    """What every provider implements. Unsupported operations raise NotSupported."""

    name: str
    capabilities: Capabilities

    async def create_checkout(self, request: CheckoutRequest) -> Checkout: ...

    async def parse_notice(self, headers: Mapping[str, str], body: bytes) -> PaymentEvent:
        """Verify a provider's notice and turn it into an event; raise InvalidNotice otherwise."""
        ...

    def acknowledge(self, accepted: bool, reason: str = "") -> NoticeReply:
        """The answer to a notice: accepted (stop sending it) or not (send it again later)."""
        ...

    async def refund(self, request: RefundRequest) -> Refund: ...

    async def query_refund(self, request: RefundRequest, refund_ref: str | None) -> Refund | None:
        """How the refund made under request.refund_key (and refund_ref, if the provider named it) stands now;
        None if the provider has no such refund. Raises NotSupported where the provider cannot be asked."""
        ...

    async def query(self, checkout: CheckoutRef) -> PaymentEvent | None:
        """Ask the provider how a checkout stands: an event if money moved (or it failed), else None."""
        ...

    async def close(self, checkout: CheckoutRef) -> None:
        """End a checkout that must not be paid any more (its order was cancelled or expired)."""
        ...


class ProviderSettings(BaseSettings):
    """A provider's own settings, each named as in the environment (STRIPE_API_KEY is stripe_api_key). daifu's
    settings take in every provider's class, so all are read at once from the environment and .env, and the
    object handed to a provider's from_settings is an instance of its class."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True)
    # What the provider cannot start without: PAYMENT_PROVIDERS naming it while one of these is empty stops the
    # start with a message naming them.
    needs: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def missing(cls, settings: BaseSettings) -> list[str]:
        """The environment names of what this provider needs and these settings leave empty."""
        return [name.upper() for name in cls.needs if not _text(getattr(settings, name, None))]


def _text(value: object) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value if isinstance(value, str) else ""


@dataclass(frozen=True, slots=True)
class ProviderContext:
    """What building a provider may use besides its settings; the composition root hands it in."""

    public_base_url: str  # daifu's web side: its notify endpoints and the sandbox's pages are there
    # A secret daifu made once and keeps (encrypted) in its database, by name: for one the settings leave unset.
    kept_secret: Callable[[str], Awaitable[str]]
    # The Bot API's refundStarPayment(user_id, telegram_charge_id): the bot itself gives Stars back.
    refund_star_payment: Callable[[int, str], Awaitable[bool]]

    def notify_url(self, provider: str) -> str:
        return f"{self.public_base_url.rstrip('/')}/notify/{provider}"


class ProviderKind(Protocol):
    """A provider class as the registry finds it in its module's PROVIDERS: its name, what it can do as it
    comes, the settings it reads (None: it reads none) and how it is built from them."""

    name: str
    capabilities: Capabilities

    @property
    def settings_class(self) -> type[ProviderSettings] | None: ...

    async def from_settings(self, settings: Any, context: ProviderContext) -> PaymentProvider:
        """Build the provider from its settings: an instance of its settings_class (daifu's settings are an
        instance of every provider's)."""
        ...


class ProviderDefaults:
    """What a provider without a notion of it does: JSON acknowledgements, nothing to query or close."""

    def acknowledge(self, accepted: bool, reason: str = "") -> NoticeReply:
        if accepted:
            return NoticeReply(200, '{"received": true}')
        return NoticeReply(400, '{"received": false}')

    async def query(self, checkout: CheckoutRef) -> PaymentEvent | None:
        return None

    async def query_refund(self, request: RefundRequest, refund_ref: str | None) -> Refund | None:
        raise NotSupported("this provider cannot be asked about a refund")

    async def close(self, checkout: CheckoutRef) -> None:
        return None


def refund_event(provider: str, event_id: str, charge_ref: str, refund: Refund) -> PaymentEvent:
    """A provider's notice about a refund, as an event (outcome REFUNDED): it travels the path charge notices
    take (stored, verified, applied once), and the core follows the refund it names."""
    extra = {"refund_ref": refund.refund_ref, "refund_status": refund.status.value}
    if refund.failure:
        extra["failure"] = refund.failure
    if refund.refund_key:
        extra["refund_key"] = refund.refund_key
    return PaymentEvent(
        provider=provider,
        event_id=event_id,
        checkout_ref="",
        charge_ref=charge_ref,
        outcome=ChargeOutcome.REFUNDED,
        amount=refund.amount,
        extra=extra,
    )


def refund_of(event: PaymentEvent) -> Refund:
    """The refund a REFUNDED event reports (see refund_event)."""
    return Refund(
        refund_ref=event.extra.get("refund_ref", ""),
        amount=event.amount,
        status=RefundStatus(event.extra.get("refund_status", RefundStatus.PENDING.value)),
        failure=event.extra.get("failure"),
        refund_key=event.extra.get("refund_key"),
    )
