"""Starting a payment: which methods an order offers, opening a checkout, checking a pre-checkout query."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_CEILING
from enum import StrEnum

from sqlmodel import select

from payments.base import Checkout, CheckoutRequest, PaymentProvider
from services.config import ShopRules
from services.money import STARS, Money, major_units
from services.order_states import move
from services.orders import OrderNotPayable, Orders, Unpayable, why_unpayable
from services.tokens import new_token
from storage.database import Database
from storage.models import Order, OrderStatus, Payment, utcnow

# Telegram shows these methods as invoices in the chat; the rest send the payer to a page or a QR code.
INVOICE_PROVIDERS = frozenset({"telegram", "stars"})


class MethodUnavailable(Exception):
    pass


class PreCheckoutRefusal(StrEnum):
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    PAID = "paid"
    CHANGED = "changed"  # amount, currency or payload differ from what the order asks


class Checkouts:
    def __init__(
        self, db: Database, rules: ShopRules, orders: Orders, providers: Mapping[str, PaymentProvider]
    ) -> None:
        self.db = db
        self.rules = rules
        self.orders = orders
        self.providers = providers

    def price_in(self, order: Order, provider_name: str) -> Money | None:
        """What the payer is charged through this provider, or None where it cannot take the order."""
        provider = self.providers.get(provider_name)
        if provider is None:
            return None
        price = Money(order.amount_minor, order.currency)
        if provider_name == "stars" and order.currency != STARS:
            rate = self.rules.stars_rates.get(order.currency)
            if rate is None:
                return None
            stars = (major_units(price) * rate).to_integral_value(rounding=ROUND_CEILING)
            return Money(int(stars), STARS)
        if order.currency == STARS and provider_name != "stars":
            return None  # Stars prices are for digital goods sold in Stars only
        return price if provider.accepts(order.currency) else None

    def methods_for(self, order: Order) -> list[str]:
        return [name for name in self.providers if self.price_in(order, name) is not None]

    async def start(self, token: str, provider_name: str, *, payer_id: int) -> Checkout:
        """Open a checkout attempt for the order; the order becomes pending."""
        order = await self.orders.payable(token)
        price = self.price_in(order, provider_name)
        if price is None:
            raise MethodUnavailable(provider_name)
        assert order.id is not None
        checkout_ref = new_token()
        async with self.db.transaction() as session:
            session.add(
                Payment(
                    order_id=order.id,
                    provider=provider_name,
                    checkout_ref=checkout_ref,
                    amount_minor=price.minor,
                    currency=price.currency,
                    payer_id=payer_id,
                )
            )
            if order.status == OrderStatus.OPEN:
                moved = await move(session, order.id, OrderStatus.PENDING, actor_id=payer_id, via=provider_name)
                if not moved.done and moved.status != OrderStatus.PENDING:
                    raise OrderNotPayable(Unpayable(moved.status.value), order)
        request = CheckoutRequest(
            checkout_ref=checkout_ref,
            order_token=order.token,
            title=order.title,
            description=order.description or order.title,
            amount=price,
            expires_at=order.expires_at,
            return_url=self.rules.landing_url(order.token),
        )
        return await self.providers[provider_name].create_checkout(request)

    async def pre_checkout(self, payload: str, currency: str, total_amount: int) -> PreCheckoutRefusal | None:
        """None when Telegram may take the money; otherwise why not. One read, well inside the 10 s limit."""
        statement = (
            select(Payment, Order)
            .join(Order, Order.id == Payment.order_id)  # type: ignore[arg-type]
            .where(Payment.checkout_ref == payload)
        )
        async with self.db.transaction() as session:
            row = (await session.exec(statement)).first()
        if row is None:
            return PreCheckoutRefusal.UNKNOWN
        attempt, order = row
        if attempt.provider not in INVOICE_PROVIDERS:
            return PreCheckoutRefusal.UNKNOWN
        why = why_unpayable(order, utcnow())
        if why is not None:
            return {
                Unpayable.EXPIRED: PreCheckoutRefusal.EXPIRED,
                Unpayable.CANCELLED: PreCheckoutRefusal.CANCELLED,
            }.get(why, PreCheckoutRefusal.PAID)
        if (attempt.currency, attempt.amount_minor) != (currency, total_amount):
            return PreCheckoutRefusal.CHANGED
        return None
