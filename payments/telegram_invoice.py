"""Telegram's native invoices: card payments through a provider token, and Telegram Stars.

Both are paid inside Telegram; their "notice" is the successful_payment update, which the bot turns into
a PaymentEvent with event_from_successful_payment. Card payments cannot be refunded through the Bot API
(only at the provider), Stars can with refundStarPayment, which the composition root hands in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from pydantic import SecretStr

from payments.base import (
    Amount,
    Capabilities,
    ChargeOutcome,
    Checkout,
    CheckoutKind,
    CheckoutRequest,
    InvalidNotice,
    InvoiceSpec,
    NotSupported,
    PaymentError,
    PaymentEvent,
    ProviderContext,
    ProviderDefaults,
    ProviderKind,
    ProviderSettings,
    Refund,
    RefundRequest,
    RefundStatus,
)
from payments.currencies import STARS

RefundStars = Callable[[int, str], Awaitable[bool]]
ALREADY_REFUNDED = "charge_already_refunded"  # Telegram's error for a Stars payment refunded before


def _invoice_checkout(name: str, request: CheckoutRequest, provider_token: str) -> Checkout:
    return Checkout(
        provider=name,
        kind=CheckoutKind.INVOICE,
        checkout_ref=request.checkout_ref,
        amount=request.amount,
        expires_at=request.expires_at,
        # The payload is the checkout reference alone: 22 characters, well within the 128-byte limit.
        invoice=InvoiceSpec(
            title=request.title[:32],
            description=(request.description or request.title)[:255],
            payload=request.checkout_ref,
            currency=request.amount.currency,
            amount_minor=request.amount.minor,
            provider_token=provider_token,
        ),
    )


class TelegramInvoiceSettings(ProviderSettings):
    needs = ("telegram_provider_token",)
    # The provider token for card invoices, from @BotFather > Payments.
    telegram_provider_token: SecretStr = SecretStr("")


class TelegramCardInvoices(ProviderDefaults):
    name = "telegram"
    settings_class: ClassVar[type[TelegramInvoiceSettings]] = TelegramInvoiceSettings
    # Card payments through a provider token are refunded at the provider, never through the Bot API; an
    # invoice is a message, made again for each showing. Telegram reports only payments of this bot's own
    # invoices: one for an unknown checkout is still the bot's money, to be given back (here: owed).
    capabilities = Capabilities(
        refunds=False,
        reuses_open_checkout=False,
        paid_inside_telegram=True,
        charges_are_ours=True,
    )

    def __init__(self, provider_token: str) -> None:
        if not provider_token:
            raise ValueError("the telegram provider needs TELEGRAM_PROVIDER_TOKEN")
        self._provider_token = provider_token

    @classmethod
    async def from_settings(cls, settings: TelegramInvoiceSettings, context: ProviderContext) -> TelegramCardInvoices:
        return cls(settings.telegram_provider_token.get_secret_value())

    async def create_checkout(self, request: CheckoutRequest) -> Checkout:
        return _invoice_checkout(self.name, request, self._provider_token)

    async def parse_notice(self, headers: Mapping[str, str], body: bytes) -> PaymentEvent:
        raise InvalidNotice("Telegram invoices report payments as updates, not web notices")

    async def refund(self, request: RefundRequest) -> Refund:
        raise NotSupported("card payments through a provider token are refunded at the provider")


class TelegramStars(ProviderDefaults):
    name = "stars"
    settings_class: ClassVar[None] = None  # the bot's own token is all it needs
    # Priced in Stars (an order in another currency at the shop's STARS_RATES); refundStarPayment gives back a
    # whole payment; an unknown Stars payment is the bot's own and is given back at once (see above).
    capabilities = Capabilities(
        currencies=frozenset({STARS}),
        converts_to=STARS,
        partial_refunds=False,
        reuses_open_checkout=False,
        paid_inside_telegram=True,
        charges_are_ours=True,
    )

    def __init__(self, refund_star_payment: RefundStars) -> None:
        self._refund_star_payment = refund_star_payment

    @classmethod
    async def from_settings(cls, settings: object, context: ProviderContext) -> TelegramStars:
        return cls(context.refund_star_payment)

    async def create_checkout(self, request: CheckoutRequest) -> Checkout:
        if request.amount.currency != STARS:
            raise PaymentError("Stars invoices are priced in XTR")
        return _invoice_checkout(self.name, request, "")

    async def parse_notice(self, headers: Mapping[str, str], body: bytes) -> PaymentEvent:
        raise InvalidNotice("Telegram invoices report payments as updates, not web notices")

    async def refund(self, request: RefundRequest) -> Refund:
        if request.payer_ref is None:
            raise PaymentError("a Stars refund needs the payer's user id")
        if request.amount != request.charge_amount:
            raise NotSupported("refundStarPayment gives back a whole Stars payment, never a part")
        try:
            await self._refund_star_payment(int(request.payer_ref), request.charge_ref)
        except Exception as error:
            # Asked again after a worker died mid-call: Telegram says the Stars went back already, which is
            # the outcome wanted, not a failure.
            if ALREADY_REFUNDED not in str(error).lower():
                raise PaymentError(f"refundStarPayment failed: {error}") from error
        # refundStarPayment answers True once the Stars are back with the payer: nothing is left pending.
        return Refund(refund_ref=request.charge_ref, amount=request.amount, status=RefundStatus.SUCCEEDED)


@dataclass(frozen=True, slots=True)
class PaidInTelegram:
    """What a successful_payment message says: who paid which invoice (its payload), how much, and the charge ids."""

    payer_id: int
    payload: str
    currency: str
    total_amount: int
    telegram_charge_id: str
    provider_charge_id: str | None


def provider_paid_in(currency: str) -> str:
    """Which of the two took a payment made inside Telegram in this currency."""
    return (TelegramStars if TelegramStars.capabilities.takes(currency) else TelegramCardInvoices).name


def event_from_successful_payment(paid: PaidInTelegram) -> PaymentEvent:
    """A successful_payment update as the event settlement receives, from whichever of the two was paid."""
    return PaymentEvent(
        provider=provider_paid_in(paid.currency),
        event_id=paid.telegram_charge_id,
        checkout_ref=paid.payload,
        charge_ref=paid.telegram_charge_id,
        outcome=ChargeOutcome.SUCCEEDED,
        amount=Amount(paid.total_amount, paid.currency),
        payer_ref=str(paid.payer_id),
        extra={"provider_charge_ref": paid.provider_charge_id} if paid.provider_charge_id else {},
    )


PROVIDERS: tuple[ProviderKind, ...] = (TelegramCardInvoices, TelegramStars)
