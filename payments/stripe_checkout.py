"""Stripe Checkout: a hosted payment page per checkout, webhooks signed by Stripe, refunds on the PaymentIntent.

The official `stripe` library does the HTTP (its async methods over aiohttp, so no call blocks the event
loop), the request encoding and the webhook signature check; this module only maps daifu's protocol onto
Checkout Sessions. The API base is a setting, so the tests run it against an in-process fake.
"""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import aiohttp
from babel.numbers import get_currency_precision, is_currency
from pydantic import SecretStr

from payments.base import (
    Amount,
    Capabilities,
    ChargeOutcome,
    Checkout,
    CheckoutKind,
    CheckoutRef,
    CheckoutRequest,
    InvalidNotice,
    PaymentError,
    PaymentEvent,
    ProviderContext,
    ProviderDefaults,
    ProviderKind,
    ProviderSettings,
    Refund,
    RefundRequest,
    RefundStatus,
    refund_event,
)
from payments.sdk import load_when_used

if TYPE_CHECKING:
    import stripe
else:
    stripe = load_when_used("stripe", extra="stripe")

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Stripe-Signature"
# Stripe accepts expires_at from 30 minutes to 24 hours after the session is created, by its own clock;
# a minute's margin on each side keeps a slow request or a skewed clock from falling outside the window.
MIN_LIFETIME = timedelta(minutes=30) + timedelta(minutes=1)
MAX_LIFETIME = timedelta(hours=24) - timedelta(minutes=1)
# A clamped expiry moves in steps of this, not with every second: the same checkout asked for again a
# moment later then sends the same parameters, which its idempotency key requires.
EXPIRY_STEP = 600
TIMEOUT = aiohttp.ClientTimeout(total=30)
# POSTs carry idempotency keys (ours or the library's), so retrying a lost connection or a 409/5xx is safe.
NETWORK_RETRIES = 2


def _codes(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Stripe's presentment currencies for cards (docs.stripe.com/currencies). Every one is two-decimal in the
# API except those below; daifu's minor units come from Babel (CLDR), so a currency is offered only where
# both agree. Where they do not, Stripe kept a two-decimal representation of a currency that ISO/CLDR
# count as zero-decimal: ISK (Stripe wants whole krónur, as multiples of 100), and AFN, ALL, LAK, LBP,
# MMK, RSD, SOS, STD, YER. Those are refused rather than converted. The three-decimal currencies (BHD,
# JOD, KWD, OMR, TND) are refused too: Stripe takes only amounts whose last digit is 0, and what a
# provider takes is a list of currencies, not of amounts. TWD is two-decimal for charges in both (Stripe's
# quirk is that it pays it out in whole units), and UGX is zero-decimal in both, so those two are offered.
# HUF is two-decimal at Stripe; CLDR counted it so too until Babel 2.19, which says zero: it is offered only
# with a Babel that agrees.
PRESENTMENT_CURRENCIES = _codes(
    """
    USD AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BIF BMD BND BOB BRL BSD BWP BYN BZD CAD CDF
    CHF CLP CNY COP CRC CVE CZK DJF DKK DOP DZD EGP ETB EUR FJD FKP GBP GEL GIP GMD GNF GTQ GYD HKD HNL HTG
    HUF IDR ILS INR ISK JMD JPY KES KGS KHR KMF KRW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP
    MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD
    SCR SEK SGD SHP SLE SOS SRD STD SZL THB TJS TOP TRY TTD TWD TZS UAH UGX UYU UZS VND VUV WST XAF XCD XOF
    XPF YER ZAR ZMW
    """
)
ZERO_DECIMAL = _codes("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF")

# What a Stripe error message may carry that must never reach a log: API keys (Stripe masks them, but the
# rule here does not depend on that).
_KEY_PATTERN = re.compile(r"\b(sk|rk|pk|whsec)_[A-Za-z0-9_]+")


def stripe_decimals(currency: str) -> int:
    return 0 if currency in ZERO_DECIMAL else 2


# What daifu offers through Stripe: its presentment currencies where Stripe's minor units are CLDR's.
OFFERED_CURRENCIES = frozenset(
    code
    for code in PRESENTMENT_CURRENCIES
    if is_currency(code) and get_currency_precision(code) == stripe_decimals(code)
)


def _unix(moment: datetime) -> int:
    return int(moment.timestamp())


def expiry_within_window(wanted: datetime, now: datetime) -> datetime:
    """The session's end: the order's own expiry, pulled into Stripe's window. A session that outlives its
    order is expired by close() when the order is closed; one that ends first can be opened again."""
    step = _unix(now) // EXPIRY_STEP * EXPIRY_STEP
    earliest = datetime.fromtimestamp(step + EXPIRY_STEP, UTC) + MIN_LIFETIME
    latest = datetime.fromtimestamp(step, UTC) + MAX_LIFETIME
    return min(max(wanted, earliest), latest)


def _safe(error: stripe.StripeError, what: str) -> PaymentError:
    """A PaymentError that says what went wrong without any credential in it."""
    status = error.http_status or "no response"
    code = error.code or type(error).__name__
    message = _KEY_PATTERN.sub("***", error.user_message or "")
    if isinstance(error, stripe.AuthenticationError):
        message = "the API key was refused"
    return PaymentError(f"Stripe {what} failed ({status}, {code}): {message}"[:500])


def _session_event(
    obj: Mapping[str, Any], outcome: ChargeOutcome, event_id: str, *, provider: str = "stripe"
) -> PaymentEvent:
    """A PaymentEvent from a Checkout Session object, as a webhook or a retrieve shows it."""
    metadata = obj.get("metadata") or {}
    checkout_ref = metadata.get("checkout_ref") or obj.get("client_reference_id")
    intent = obj.get("payment_intent")
    if isinstance(intent, Mapping):  # expanded
        intent = intent.get("id")
    # A successful charge is known by its PaymentIntent (what refunds name); a decline has none, so the
    # session stands for it.
    charge_ref = intent if outcome == ChargeOutcome.SUCCEEDED else obj.get("id")
    amount, currency = obj.get("amount_total"), obj.get("currency")
    if not checkout_ref or not charge_ref or not isinstance(amount, int) or not currency:
        raise InvalidNotice(f"checkout session {obj.get('id')!r} lacks its reference, charge or amount")
    return PaymentEvent(
        provider=provider,
        event_id=event_id,
        checkout_ref=str(checkout_ref),
        charge_ref=str(charge_ref),
        outcome=outcome,
        amount=Amount(amount, str(currency).upper()),
        extra={"session": str(obj.get("id"))},
    )


# Stripe's events about a refund whose object is the refund itself: sent when its status changes after the
# call that made it answered. (refund.created says what that answer said, and is acknowledged unread, so it
# cannot race the caller recording the answer. charge.refunded carries the charge, whose refunds are not
# expanded in current API versions: the refund.* event sent with it says the same.)
REFUND_EVENTS = frozenset({"refund.updated", "refund.failed", "charge.refund.updated"})
# requires_action: the payer must give details (some methods refund by bank transfer) before the money moves.
_REFUND_STATUSES = {
    "succeeded": RefundStatus.SUCCEEDED,
    "pending": RefundStatus.PENDING,
    "requires_action": RefundStatus.PENDING,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.FAILED,
}


def refund_from_stripe(obj: Mapping[str, Any]) -> Refund:
    """A Refund from Stripe's refund object: its status and the amount Stripe says it gives back."""
    status = _REFUND_STATUSES.get(str(obj.get("status")))
    amount, currency = obj.get("amount"), obj.get("currency")
    if status is None or not isinstance(amount, int) or not currency or not obj.get("id"):
        raise PaymentError(f"Stripe answered refund {obj.get('id')!r} with status {obj.get('status')!r}")
    failure = obj.get("failure_reason") or (str(obj.get("status")) if status == RefundStatus.FAILED else None)
    return Refund(
        refund_ref=str(obj["id"]),
        amount=Amount(amount, str(currency).upper()),
        status=status,
        failure=str(failure) if failure else None,
        refund_key=(obj.get("metadata") or {}).get("refund_key"),
    )


def outcome_of(event_type: str, session: Mapping[str, Any]) -> ChargeOutcome:
    """What a Checkout Session event says about the money."""
    if event_type == "checkout.session.completed":
        # Delayed methods (bank debits) complete unpaid and settle later with async_payment_succeeded.
        return ChargeOutcome.SUCCEEDED if session.get("payment_status") == "paid" else ChargeOutcome.PENDING
    if event_type == "checkout.session.async_payment_succeeded":
        return ChargeOutcome.SUCCEEDED
    if event_type in ("checkout.session.expired", "checkout.session.async_payment_failed"):
        return ChargeOutcome.DECLINED
    return ChargeOutcome.UNKNOWN


class StripeSettings(ProviderSettings):
    needs = ("stripe_api_key", "stripe_webhook_secret")
    stripe_api_key: SecretStr = SecretStr("")
    # Signing secret of the webhook endpoint PUBLIC_BASE_URL/notify/stripe (whsec_...).
    stripe_webhook_secret: SecretStr = SecretStr("")
    stripe_api_base: str = "https://api.stripe.com"  # a local test server goes here in the tests


class StripeCheckout(ProviderDefaults):
    name = "stripe"
    settings_class: ClassVar[type[StripeSettings]] = StripeSettings
    capabilities = Capabilities(
        currencies=OFFERED_CURRENCIES,
        # Stripe keeps idempotency keys for at least 24 hours; an hour's margin for clocks and slow rounds.
        refund_key_lasts=timedelta(hours=23),
    )

    def __init__(self, api_key: str, webhook_secret: str, api_base: str = "https://api.stripe.com") -> None:
        # The telemetry header would make the library create and read ~/.config/stripe/telemetry_id on the first
        # request (file I/O on the event loop, and a file in the home directory of whoever runs the bot).
        stripe.enable_telemetry = False
        self._api_key = api_key
        self._webhook_secret = webhook_secret
        self._api_base = api_base.rstrip("/")
        # Built now, at assembly: loading Stripe's CA bundle reads a file, which must not happen mid-request.
        self._ssl = ssl.create_default_context(cafile=stripe.ca_bundle_path) if api_base.startswith("https") else None
        self._http: aiohttp.ClientSession | None = None
        self._client: stripe.StripeClient | None = None

    @classmethod
    async def from_settings(cls, settings: StripeSettings, context: ProviderContext) -> StripeCheckout:
        return cls(
            api_key=settings.stripe_api_key.get_secret_value(),
            webhook_secret=settings.stripe_webhook_secret.get_secret_value(),
            api_base=settings.stripe_api_base,
        )

    def _stripe(self) -> stripe.StripeClient:
        """The client, made on first use: an aiohttp session belongs to the running event loop."""
        if self._client is None:
            connector = aiohttp.TCPConnector(ssl=self._ssl) if self._ssl is not None else None
            self._http = aiohttp.ClientSession(connector=connector)
            self._client = stripe.StripeClient(
                self._api_key,
                base_addresses={"api": self._api_base},
                http_client=stripe.AIOHTTPClient(session=self._http, timeout=TIMEOUT),
                max_network_retries=NETWORK_RETRIES,
            )
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP session (the library leaves a session it was given to its owner)."""
        if self._http is not None:
            await self._http.close()
        self._http, self._client = None, None

    # -- checkouts ------------------------------------------------------------------------------------

    def session_params(self, request: CheckoutRequest, now: datetime) -> dict[str, Any]:
        product: dict[str, Any] = {"name": request.title}
        if request.description and request.description != request.title:
            product["description"] = request.description
        ref = {"checkout_ref": request.checkout_ref}
        return {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": request.amount.currency.lower(),
                        "unit_amount": request.amount.minor,
                        "product_data": product,
                    },
                }
            ],
            # daifu's landing page: it says whether the order is paid and leads back to the bot's chat.
            "success_url": request.return_url,
            "cancel_url": request.return_url,
            "client_reference_id": request.checkout_ref,
            "metadata": ref,
            # On the PaymentIntent too, so a payment found in the Dashboard leads back to its checkout.
            "payment_intent_data": {"metadata": ref},
            "expires_at": _unix(expiry_within_window(request.expires_at, now)),
        }

    async def create_checkout(self, request: CheckoutRequest) -> Checkout:
        now = datetime.now(UTC)
        params = self.session_params(request, now)
        try:
            session = await self._stripe().v1.checkout.sessions.create_async(
                params,  # type: ignore[arg-type]  # a plain dict of the documented fields
                {"idempotency_key": f"daifu-checkout-{request.checkout_ref}"},
            )
        except stripe.StripeError as error:
            raise _safe(error, "checkout creation") from None
        if not session.url:
            raise PaymentError(f"Stripe returned checkout session {session.id} without a page URL")
        return Checkout(
            provider=self.name,
            kind=CheckoutKind.URL,
            checkout_ref=request.checkout_ref,
            amount=request.amount,
            expires_at=datetime.fromtimestamp(params["expires_at"], UTC),
            url=session.url,
            provider_checkout_id=session.id,
        )

    # -- notices --------------------------------------------------------------------------------------

    async def parse_notice(self, headers: Mapping[str, str], body: bytes) -> PaymentEvent:
        header = headers.get(SIGNATURE_HEADER)
        if not header or not header.isascii():
            # The library compares with hmac.compare_digest on str, which raises TypeError on non-ASCII.
            raise InvalidNotice("missing or malformed signature header")
        try:
            # The library checks the HMAC and that the timestamp is at most 300 s old.
            event = self._stripe().construct_event(body, header, self._webhook_secret)
        except stripe.SignatureVerificationError as error:
            raise InvalidNotice(f"signature: {error.user_message or 'does not verify'}") from None
        except ValueError as error:  # not JSON, not UTF-8, or not a v1 event
            raise InvalidNotice(f"malformed event: {type(error).__name__}") from None
        data = event.to_dict()
        obj = (data.get("data") or {}).get("object") or {}
        kind = str(data.get("type", ""))
        if kind in REFUND_EVENTS and obj.get("object") == "refund":
            try:
                refund = refund_from_stripe(obj)
            except PaymentError:  # a status this adapter does not know: nothing to act on
                return self._unknown(event.id, kind, obj)
            return refund_event(self.name, event.id, str(obj.get("payment_intent") or ""), refund)
        outcome = outcome_of(kind, obj) if obj.get("object") == "checkout.session" else ChargeOutcome.UNKNOWN
        if outcome == ChargeOutcome.UNKNOWN:
            return self._unknown(event.id, kind, obj)
        return _session_event(obj, outcome, event.id, provider=self.name)

    def _unknown(self, event_id: str, kind: str, obj: Mapping[str, Any]) -> PaymentEvent:
        """An event daifu does not act on (it is acknowledged, so Stripe stops sending it)."""
        metadata = obj.get("metadata") or {}
        return PaymentEvent(
            provider=self.name,
            event_id=event_id,
            checkout_ref=str(metadata.get("checkout_ref") or obj.get("client_reference_id") or ""),
            charge_ref=str(obj.get("id") or ""),
            outcome=ChargeOutcome.UNKNOWN,
            amount=Amount(0, str(obj.get("currency") or "").upper()),
            extra={"type": kind},
        )

    # -- refunds, queries, closing --------------------------------------------------------------------

    async def refund(self, request: RefundRequest) -> Refund:
        params: dict[str, Any] = {"payment_intent": request.charge_ref, "metadata": {"refund_key": request.refund_key}}
        # Giving the whole charge back names no amount: Stripe then returns all that is left of the
        # PaymentIntent in its own currency, which is right even for a charge that did not match its order.
        if request.amount != request.charge_amount:
            params["amount"] = request.amount.minor
        try:
            refund = await self._stripe().v1.refunds.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": request.refund_key},
            )
        except stripe.StripeError as error:
            raise _safe(error, "refund") from None
        return refund_from_stripe(refund.to_dict())

    async def query_refund(self, request: RefundRequest, refund_ref: str | None) -> Refund | None:
        """The refund by its id if Stripe named it; else the PaymentIntent's refund whose metadata carries the
        refund key (Stripe forgets idempotency keys after about 24 hours: this is what is asked first then)."""
        try:
            if refund_ref:
                return refund_from_stripe((await self._stripe().v1.refunds.retrieve_async(refund_ref)).to_dict())
            listed = await self._stripe().v1.refunds.list_async({"payment_intent": request.charge_ref, "limit": 100})
        except stripe.StripeError as error:
            raise _safe(error, "refund lookup") from None
        for refund in listed.data:
            found = refund.to_dict()
            if (found.get("metadata") or {}).get("refund_key") == request.refund_key:
                return refund_from_stripe(found)
        return None

    async def _session(self, session_id: str) -> dict[str, Any]:
        try:
            session = await self._stripe().v1.checkout.sessions.retrieve_async(session_id)
        except stripe.StripeError as error:
            raise _safe(error, "checkout lookup") from None
        return session.to_dict()

    async def query(self, checkout: CheckoutRef) -> PaymentEvent | None:
        if checkout.provider_checkout_id is None:
            return None  # the session was never created: nobody can have paid it
        session = await self._session(checkout.provider_checkout_id)
        if session.get("status") == "complete" and session.get("payment_status") == "paid":
            outcome = ChargeOutcome.SUCCEEDED
        elif session.get("status") == "expired":
            outcome = ChargeOutcome.DECLINED
        else:
            return None  # still open, or completed with a delayed payment still on its way
        return _session_event(session, outcome, f"reconcile:{session['id']}", provider=self.name)

    async def close(self, checkout: CheckoutRef) -> None:
        if checkout.provider_checkout_id is None:
            return
        try:
            await self._stripe().v1.checkout.sessions.expire_async(checkout.provider_checkout_id)
            return
        except stripe.InvalidRequestError as error:
            refused = error  # only an open session can be expired: see whether it has ended already
        except stripe.StripeError as error:
            raise _safe(error, "checkout expiry") from None
        session = await self._session(checkout.provider_checkout_id)
        if session.get("status") == "open":
            raise _safe(refused, "checkout expiry")
        # Completed or expired already: nothing left to close. A payment that completed meanwhile
        # arrives as its own notice and is refunded if the order can no longer take it.
        log.info("stripe session %s was already %s", session.get("id"), session.get("status"))


PROVIDERS: tuple[ProviderKind, ...] = (StripeCheckout,)
