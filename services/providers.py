"""Payment providers as the rest of daifu sees them: what one can do (read from it, never from its name), the
checkout it made, the error a provider call raises, and a payment made inside Telegram as the event settlement
receives. Handlers reach payments/ only through here."""

from __future__ import annotations

from collections.abc import Mapping

from payments.base import Capabilities, Checkout, CheckoutKind, InvoiceSpec, PaymentError, PaymentProvider
from payments.registry import capabilities_of as capabilities_of_kind
from payments.telegram_invoice import PaidInTelegram

__all__ = [
    "Capabilities",
    "Checkout",
    "CheckoutKind",
    "InvoiceSpec",
    "PaidInTelegram",
    "PaymentError",
    "capabilities_of",
]


def capabilities_of(name: str, enabled: Mapping[str, PaymentProvider] | None = None) -> Capabilities:
    """What the provider of this name can do: the enabled one's own (its settings may make it do less), else
    what that provider does as it comes (a payment made through one turned off since is still shown as made)."""
    provider = enabled.get(name) if enabled is not None else None
    return provider.capabilities if provider is not None else capabilities_of_kind(name)
