"""Build the enabled providers by their short names, from plain settings values."""

from __future__ import annotations

from collections.abc import Sequence

from payments.base import PaymentProvider
from payments.sandbox import SandboxGateway
from payments.telegram_invoice import RefundStars, TelegramCardInvoices, TelegramStars

KNOWN = ("sandbox", "telegram", "stars")


class UnknownProvider(ValueError):
    pass


def build_providers(
    names: Sequence[str],
    *,
    sandbox_secret: str,
    public_base_url: str,
    telegram_provider_token: str,
    refund_star_payment: RefundStars,
) -> dict[str, PaymentProvider]:
    providers: dict[str, PaymentProvider] = {}
    for name in names:
        if name == "sandbox":
            providers[name] = SandboxGateway(sandbox_secret, public_base_url)
        elif name == "telegram":
            providers[name] = TelegramCardInvoices(telegram_provider_token)
        elif name == "stars":
            providers[name] = TelegramStars(refund_star_payment)
        else:
            raise UnknownProvider(f"unknown payment provider {name!r}; known: {', '.join(KNOWN)}")
    return providers
