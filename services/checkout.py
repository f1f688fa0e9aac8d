"""Starting a payment: which methods an order offers, opening a checkout, checking a pre-checkout query."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from decimal import ROUND_CEILING
from enum import StrEnum

from sqlalchemy import bindparam
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from payments.base import Checkout, CheckoutRequest, PaymentProvider
from services.config import ShopRules
from services.money import STARS, Money, major_units
from services.order_states import move
from services.orders import OrderNotPayable, Orders, Unpayable, why_unpayable
from services.tokens import new_token
from storage.database import Database
from storage.models import Order, OrderStatus, Payment, PayRequest, utcnow

# Telegram shows these methods as invoices in the chat; the rest send the payer to a page or a QR code.
INVOICE_PROVIDERS = frozenset({"telegram", "stars"})


# Built once: every pre-checkout reads it, and building a statement costs about as much CPU as SQLAlchemy's
# part of running it (bench.db_floor).
_ATTEMPT_FOR_PRE_CHECKOUT = (
    select(Payment, Order, PayRequest)
    .join(Order, col(Order.id) == col(Payment.order_id))
    .outerjoin(PayRequest, col(PayRequest.id) == col(Payment.request_id))
    .where(col(Payment.checkout_ref) == bindparam("payload"))
)


class MethodUnavailable(Exception):
    pass


class PreCheckoutRefusal(StrEnum):
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    PAID = "paid"
    CHANGED = "changed"  # amount, currency or payload differ from what the order asks
    HELD = "held"  # a pay-for-me request another friend is paying right now
    REQUEST_CLOSED = "request_closed"  # the pay-for-me request was paid, covered, cancelled or expired
    COVERED = "covered"  # a chip-in for more than other friends' payments leave over


# Decides pre-checkout for attempts that belong to a pay-for-me request (services.pay_requests).
RequestGuard = Callable[[Payment, Order, PayRequest, int], Awaitable[PreCheckoutRefusal | None]]


class Checkouts:
    def __init__(
        self, db: Database, rules: ShopRules, orders: Orders, providers: Mapping[str, PaymentProvider]
    ) -> None:
        self.db = db
        self.rules = rules
        self.orders = orders
        self.providers = providers
        self.request_guard: RequestGuard | None = None

    def price_in(self, order: Order, provider_name: str) -> Money | None:
        """What the payer is charged through this provider, or None where it cannot take the order."""
        return self.charge_for(Money(order.amount_minor, order.currency), provider_name)

    def charge_for(self, price: Money, provider_name: str) -> Money | None:
        """An amount in the order's currency as this provider charges it (Stars convert at the shop's rate)."""
        provider = self.providers.get(provider_name)
        if provider is None:
            return None
        if provider_name == "stars" and price.currency != STARS:
            rate = self.rules.stars_rates.get(price.currency)
            if rate is None:
                return None
            stars = (major_units(price) * rate).to_integral_value(rounding=ROUND_CEILING)
            return Money(int(stars), STARS)
        if price.currency == STARS and provider_name != "stars":
            return None  # Stars prices are for digital goods sold in Stars only
        return price if provider.accepts(price.currency) else None

    def methods_for(self, order: Order) -> list[str]:
        """The enabled providers that can take this order, limited to those the shop allowed for it."""
        allowed = set(order.allowed_methods.split(",")) if order.allowed_methods else None
        return [
            name
            for name in self.providers
            if (allowed is None or name in allowed) and self.price_in(order, name) is not None
        ]

    async def start(self, token: str, provider_name: str, *, payer_id: int) -> Checkout:
        """Open a checkout attempt for the order; the order becomes pending."""
        order = await self.orders.payable(token)
        price = self.price_in(order, provider_name)
        if price is None or provider_name not in self.methods_for(order):
            raise MethodUnavailable(provider_name)
        return await self.open_attempt(order, provider_name, price, payer_id=payer_id)

    async def open_attempt(
        self,
        order: Order,
        provider_name: str,
        price: Money,
        *,
        payer_id: int | None,
        request_id: int | None = None,
        payer_name: str | None = None,
        show_name: bool = True,
        return_url: str | None = None,
        credit_minor: int | None = None,
        holder: str | None = None,
        before: Callable[[AsyncSession], Awaitable[Payment | None]] | None = None,
    ) -> Checkout:
        """Record the attempt (the order becomes pending), then ask the provider for the checkout.

        before runs first in the same transaction: it may refuse (raise: nothing is recorded), or hand back an
        attempt still pending to reuse instead of recording a new one.
        """
        assert order.id is not None
        checkout_ref = new_token()
        attempt = Payment(
            order_id=order.id,
            provider=provider_name,
            checkout_ref=checkout_ref,
            amount_minor=price.minor,
            currency=price.currency,
            payer_id=payer_id,
            request_id=request_id,
            payer_name=payer_name,
            holder=holder,
            show_name=show_name,
            credit_minor=credit_minor if credit_minor is not None else order.amount_minor,
        )
        async with self.db.transaction() as session:
            reusable = await before(session) if before is not None else None
            if reusable is not None:
                attempt = reusable
            elif order.status == OrderStatus.OPEN:
                moved = await move(session, order.id, OrderStatus.PENDING, actor_id=payer_id, via=provider_name)
                if not moved.done and moved.status != OrderStatus.PENDING:
                    raise OrderNotPayable(Unpayable(moved.status.value), order)
            if reusable is None:
                session.add(attempt)
        checkout = await self.checkout_for(attempt, order, return_url=return_url)
        if checkout.provider_checkout_id and reusable is None:
            async with self.db.transaction() as session:
                await session.exec(
                    update(Payment)
                    .where(col(Payment.checkout_ref) == checkout_ref)
                    .values(provider_checkout_id=checkout.provider_checkout_id)
                )
        return checkout

    async def checkout_for(self, attempt: Payment, order: Order, *, return_url: str | None = None) -> Checkout:
        """Ask the attempt's provider for its checkout (again: invoices and signed pages are stateless)."""
        request = CheckoutRequest(
            checkout_ref=attempt.checkout_ref,
            order_token=order.token,
            title=order.title,
            description=order.description or order.title,
            amount=Money(attempt.amount_minor, attempt.currency),
            expires_at=order.expires_at,
            return_url=return_url or self.rules.landing_url(order.token),
        )
        return await self.providers[attempt.provider].create_checkout(request)

    async def pre_checkout(
        self, payload: str, currency: str, total_amount: int, *, payer_id: int
    ) -> PreCheckoutRefusal | None:
        """None when Telegram may take the money; otherwise why not. One read, well inside the 10 s limit."""
        async with self.db.reading() as session:
            row = (await session.exec(_ATTEMPT_FOR_PRE_CHECKOUT, params={"payload": payload})).first()
        if row is None:
            return PreCheckoutRefusal.UNKNOWN
        attempt, order, request = row
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
        if request is not None and self.request_guard is not None:
            return await self.request_guard(attempt, order, request, payer_id)
        return None
