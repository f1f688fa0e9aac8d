"""Starting a payment: which methods an order offers, recording an attempt, its checkout, the order's checks at a
pre-checkout query. Pay-for-me requests are services.request_checkout's: nothing here knows of them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING

from sqlmodel.ext.asyncio.session import AsyncSession

from payments.base import Checkout, CheckoutKind, CheckoutRequest, PaymentProvider
from services.config import ShopRules
from services.money import STARS, Money, major_units
from services.order_states import move
from services.orders import OrderNotPayable, Orders
from services.providers import capabilities_of
from services.read_models import OrderInfo
from services.receipts import Receipts
from services.tokens import new_token
from services.why_not import ORDER_CLOSED, WhyNot, why_not_order
from storage.database import Database
from storage.models import Order, OrderStatus, Payment, utcnow
from storage.queries.attempts import keep_checkout, open_attempts_of_holder, open_attempts_of_payer

# A checkout about to end is not handed out again: the payer needs the time to pay it.
REUSE_MARGIN = timedelta(minutes=5)


def stored_checkout(attempt: Payment) -> Checkout | None:
    """The checkout the provider made for this attempt, as kept with it (None if none is kept)."""
    if attempt.checkout_kind is None or attempt.checkout_link is None or attempt.checkout_expires_at is None:
        return None
    kind = CheckoutKind(attempt.checkout_kind)
    return Checkout(
        provider=attempt.provider,
        kind=kind,
        checkout_ref=attempt.checkout_ref,
        amount=Money(attempt.amount_minor, attempt.currency),
        expires_at=attempt.checkout_expires_at,
        url=attempt.checkout_link if kind == CheckoutKind.URL else None,
        qr_payload=attempt.checkout_link if kind == CheckoutKind.QR else None,
        provider_checkout_id=attempt.provider_checkout_id,
    )


def same_ask(attempt: Payment, wanted: Payment, *, since: datetime | None, now: datetime) -> bool:
    """Whether this open attempt is what the payer asks for again, and can still be paid."""
    return (
        (attempt.amount_minor, attempt.currency, attempt.credit_minor)
        == (wanted.amount_minor, wanted.currency, wanted.credit_minor)
        and (attempt.payer_name, attempt.show_name) == (wanted.payer_name, wanted.show_name)
        and (since is None or attempt.created_at > since)
        and (attempt.checkout_expires_at is None or attempt.checkout_expires_at > now + REUSE_MARGIN)
    )


class MethodUnavailable(Exception):
    pass


@dataclass(frozen=True, slots=True)
class NewAttempt:
    """What a payer starts paying through one provider, before it is recorded as an attempt."""

    provider: str
    price: Money  # what the provider charges (Stars, for an order priced in dollars)
    payer_id: int | None  # None: an invoice posted in a group, for whoever pays it
    credit_minor: int | None = None  # what it credits the order, in the order's currency; None: all of it
    request_id: int | None = None
    holder: str | None = None  # who holds the request while paying it: "tg:<user id>" or "web:<browser id>"
    payer_name: str | None = None
    show_name: bool = True


class Checkouts:
    def __init__(
        self,
        db: Database,
        rules: ShopRules,
        orders: Orders,
        providers: Mapping[str, PaymentProvider],
        receipts: Receipts,
    ) -> None:
        self.db = db
        self.rules = rules
        self.orders = orders
        self.providers = providers
        self.receipts = receipts

    def price_in(self, order: Order | OrderInfo, provider_name: str) -> Money | None:
        """What the payer is charged through this provider, or None where it cannot take the order."""
        return self.charge_for(Money(order.amount_minor, order.currency), provider_name)

    def charge_for(self, price: Money, provider_name: str) -> Money | None:
        """An amount in the order's currency as this provider charges it (Stars convert at the shop's rate)."""
        provider = self.providers.get(provider_name)
        if provider is None:
            return None
        can = provider.capabilities
        if can.converts_to is not None and price.currency != can.converts_to:
            rate = self.rules.stars_rates.get(price.currency) if can.converts_to == STARS else None
            if rate is None:
                return None
            converted = (major_units(price) * rate).to_integral_value(rounding=ROUND_CEILING)
            price = Money(int(converted), can.converts_to)
        # Stars prices are for digital goods sold in Stars only: no provider but Stars takes them.
        return price if can.takes(price.currency) else None

    def methods_for(self, order: Order | OrderInfo) -> list[str]:
        """The enabled providers that can take this order, limited to those the shop allowed for it."""
        allowed = set(order.allowed_methods.split(",")) if order.allowed_methods else None
        return [
            name
            for name in self.providers
            if (allowed is None or name in allowed) and self.price_in(order, name) is not None
        ]

    async def start(
        self, token: str, provider_name: str, *, payer_id: int | None, holder: str | None = None
    ) -> Checkout:
        """Open a checkout attempt for the order; the order becomes pending. The payer is a Telegram user
        (payer_id), or a shopper on the order's web page, known by their browser (holder "web:<id>")."""
        assert payer_id is not None or holder is not None
        order = await self.orders.payable(token)
        price = self.price_in(order, provider_name)
        if price is None or provider_name not in self.methods_for(order):
            raise MethodUnavailable(provider_name)
        async with self.db.transaction() as session:
            new = NewAttempt(provider_name, price, payer_id, holder=holder)
            attempt = await self.record_attempt_in(session, order, new)
        return await self.checkout_to_show(attempt, order)

    async def record_attempt_in(
        self, session: AsyncSession, order: Order | OrderInfo, new: NewAttempt, *, reuse_since: datetime | None = None
    ) -> Payment:
        """In the caller's transaction: the payer's own open attempt asking for the same (made after reuse_since, if
        given), or else a new one, which makes the order pending. Tapping Pay a hundred times makes one attempt, and
        one checkout at the provider where its checkouts can be shown again (checkout_to_show).

        OrderNotPayable if the order closed meanwhile: the caller's transaction rolls back with it.
        """
        assert order.id is not None
        wanted = Payment(
            order_id=order.id,
            provider=new.provider,
            checkout_ref=new_token(),
            amount_minor=new.price.minor,
            currency=new.price.currency,
            payer_id=new.payer_id,
            request_id=new.request_id,
            payer_name=new.payer_name,
            holder=new.holder,
            show_name=new.show_name,
            credit_minor=new.credit_minor if new.credit_minor is not None else order.amount_minor,
        )
        reusable = await self._open_attempt_like(session, wanted, since=reuse_since)
        if reusable is not None:
            return reusable
        if order.status == OrderStatus.OPEN:
            moved = await move(session, order.id, OrderStatus.PENDING, actor_id=new.payer_id, via=new.provider)
            if not moved.done and moved.status != OrderStatus.PENDING:
                raise OrderNotPayable(ORDER_CLOSED[moved.status])
        session.add(wanted)
        return wanted

    async def checkout_to_show(self, attempt: Payment, order: Order | OrderInfo) -> Checkout:
        """The checkout of an attempt just recorded: the one kept with it, where the provider's can be shown again;
        otherwise the provider's new one, kept where it can be."""
        provider = self.providers[attempt.provider]
        if provider.capabilities.reuses_open_checkout:
            kept = stored_checkout(attempt)  # never one for a new attempt
            if kept is not None:
                return kept
        # A new attempt, or one whose checkout was never made (the provider failed) or is made for each showing.
        checkout = await self.checkout_for(attempt, order)
        values: dict[str, object] = {}
        if checkout.provider_checkout_id and attempt.provider_checkout_id != checkout.provider_checkout_id:
            values["provider_checkout_id"] = checkout.provider_checkout_id
        link = checkout.url if checkout.kind == CheckoutKind.URL else checkout.qr_payload
        if provider.capabilities.reuses_open_checkout and link:
            values |= {
                "checkout_kind": checkout.kind.value,
                "checkout_link": link,
                "checkout_expires_at": checkout.expires_at,
            }
        if values:
            async with self.db.transaction() as session:
                await keep_checkout(session, checkout_ref=attempt.checkout_ref, values=values)
        return checkout

    async def _open_attempt_like(
        self, session: AsyncSession, wanted: Payment, *, since: datetime | None
    ) -> Payment | None:
        """The payer's own pending attempt asking for the same as wanted, if one can still be paid."""
        order_id, provider = wanted.order_id, wanted.provider
        if wanted.holder is not None:
            mine = await open_attempts_of_holder(
                session, order_id=order_id, provider=provider, holder=wanted.holder, request_id=wanted.request_id
            )
        elif wanted.payer_id is not None and wanted.request_id is None:
            mine = await open_attempts_of_payer(session, order_id=order_id, provider=provider, payer_id=wanted.payer_id)
        else:
            return None  # nobody to recognise again (an invoice posted in a group: see RequestCheckouts)
        now = utcnow()
        for attempt in mine:
            if same_ask(attempt, wanted, since=since, now=now):
                return attempt
        return None

    async def checkout_for(self, attempt: Payment, order: Order | OrderInfo) -> Checkout:
        """Ask the attempt's provider for its checkout (again: invoices and signed pages are stateless). A page
        sends its payer back to the attempt's receipt, whoever they are and wherever they started."""
        request = CheckoutRequest(
            checkout_ref=attempt.checkout_ref,
            order_token=order.token,
            title=order.title,
            description=order.description or order.title,
            amount=Money(attempt.amount_minor, attempt.currency),
            expires_at=order.expires_at,
            return_url=await self.receipts.url_of(attempt.checkout_ref),
        )
        return await self.providers[attempt.provider].create_checkout(request)

    def invoice_refusal(self, attempt: Payment, order: Order, currency: str, total_amount: int) -> WhyNot | None:
        """Why Telegram may not take the money for this attempt's invoice, as far as its order goes; None if it may."""
        if not capabilities_of(attempt.provider, self.providers).paid_inside_telegram:
            return WhyNot.UNKNOWN_ORDER
        why = why_not_order(order, utcnow())
        if why is not None:
            return why
        if (attempt.currency, attempt.amount_minor) != (currency, total_amount):
            return WhyNot.CHANGED
        return None
