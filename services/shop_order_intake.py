"""Creating a shop's order through the API: the request checked against the shop's rules, made once per key."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from services.callback_targets import callback_url_problem
from services.checkout import Checkouts
from services.config import ShopRules
from services.money import MAX_MAJOR_UNITS, AmountProblem, InvalidAmount, Money, major_units, normalise_currency
from services.order_states import record_event
from services.orders import DESCRIPTION_MAX, TITLE_MAX
from services.read_models import OrderInfo
from services.shop_order_errors import Problem, ShopOrderError, require_idempotency_key
from services.shop_order_views import ShopOrder, ShopOrderViews
from services.tokens import new_order_token
from storage.database import Database
from storage.models import Order, utcnow
from storage.queries.api_keys import order_by_idempotency_key

MIN_TTL = timedelta(minutes=1)
MAX_TTL = timedelta(days=30)
EXTERNAL_ID_MAX = 128
CALLBACK_URL_MAX = 2048


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What a shop asked for, already typed (not yet checked against the shop's rules)."""

    amount_minor: int
    currency: str
    title: str
    description: str = ""
    external_id: str | None = None
    callback_url: str | None = None
    expires_in_seconds: int | None = None
    expires_at: datetime | None = None
    allowed_methods: Sequence[str] | None = None
    payforme_allowed: bool = True


@dataclass(frozen=True, slots=True)
class Created:
    order: ShopOrder
    replayed: bool  # True when the idempotency key had already made this order


def request_hash(body: Mapping[str, Any]) -> str:
    """The fingerprint of an API body: SHA-256 of its canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


class ShopOrderIntake:
    def __init__(self, db: Database, rules: ShopRules, checkouts: Checkouts, views: ShopOrderViews) -> None:
        self.db = db
        self.rules = rules
        self.checkouts = checkouts
        self.views = views

    async def create(self, shop_id: int, idempotency_key: str, request: OrderRequest, fingerprint: str) -> Created:
        """The order for this key: made now, or the one the key already made with the same body."""
        require_idempotency_key(idempotency_key)
        earlier = await self._by_key(shop_id, idempotency_key)
        if earlier is not None:
            return await self._replay(earlier, fingerprint)
        order = self._new_order(shop_id, request)
        order.idempotency_key, order.request_hash = idempotency_key, fingerprint
        try:
            async with self.db.transaction() as session:
                session.add(order)
                await session.flush()
                assert order.id is not None
                await record_event(
                    session, order.id, "created", amount=order.amount_minor, currency=order.currency, via="api"
                )
                made = OrderInfo.of(order)
        except IntegrityError:
            # The same key won a race with us (the unique constraint on shop and key decides): answer with it.
            earlier = await self._by_key(shop_id, idempotency_key)
            if earlier is None:
                raise
            return await self._replay(earlier, fingerprint)
        return Created(ShopOrder(made), replayed=False)

    async def _by_key(self, shop_id: int, key: str) -> Order | None:
        async with self.db.transaction() as session:
            return await order_by_idempotency_key(session, shop_id=shop_id, key=key)

    async def _replay(self, order: Order, fingerprint: str) -> Created:
        if order.request_hash != fingerprint:
            raise ShopOrderError(
                Problem.IDEMPOTENCY_CONFLICT, "this Idempotency-Key was already used with a different body"
            )
        return Created(await self.views.view(order), replayed=True)

    def _new_order(self, shop_id: int, request: OrderRequest) -> Order:
        amount = self._amount(request)
        title = " ".join(request.title.split())
        if not 1 <= len(title) <= TITLE_MAX:
            raise ShopOrderError(Problem.BAD_REQUEST, f"title must be 1 to {TITLE_MAX} characters")
        if len(request.description) > DESCRIPTION_MAX:
            raise ShopOrderError(Problem.BAD_REQUEST, f"description must be at most {DESCRIPTION_MAX} characters")
        if request.external_id is not None and not 1 <= len(request.external_id) <= EXTERNAL_ID_MAX:
            raise ShopOrderError(Problem.BAD_REQUEST, f"external_id must be 1 to {EXTERNAL_ID_MAX} characters")
        if request.callback_url is not None:
            private_allowed = self.rules.callback_private_allowed
            problem = callback_url_problem(
                request.callback_url, private_allowed=private_allowed, max_length=CALLBACK_URL_MAX
            )
            if problem is not None:
                raise ShopOrderError(Problem.BAD_REQUEST, problem)
        now = utcnow()
        order = Order(
            token=new_order_token(),
            shop_id=shop_id,
            title=title,
            description=request.description,
            amount_minor=amount.minor,
            currency=amount.currency,
            created_at=now,
            expires_at=now + self._ttl(request, now),
            external_id=request.external_id,
            callback_url=request.callback_url,
            allowed_methods=self._methods(request.allowed_methods),
            payforme_allowed=request.payforme_allowed,
        )
        if not self.checkouts.methods_for(order):
            # An order nobody could pay is a mistake the shop should hear of now, not from its customers.
            raise ShopOrderError(
                Problem.NO_PAYMENT_METHOD, f"no allowed payment method can take {amount.currency} orders"
            )
        return order

    @staticmethod
    def _amount(request: OrderRequest) -> Money:
        try:
            currency = normalise_currency(request.currency)
        except InvalidAmount as error:
            why = (
                "is an ISO 4217 code but not money anyone can pay with (a fund, a precious metal, a unit of"
                " account, a test code or a currency no longer in use)"
                if error.problem == AmountProblem.NOT_MONEY
                else "is not an ISO 4217 currency"
            )
            raise ShopOrderError(Problem.UNKNOWN_CURRENCY, f"{request.currency!r} {why}") from None
        amount = Money(request.amount_minor, currency)
        if amount.minor <= 0 or major_units(amount) > MAX_MAJOR_UNITS:
            raise ShopOrderError(
                Problem.INVALID_AMOUNT, f"amount_minor must be above 0 and at most {MAX_MAJOR_UNITS} {currency}"
            )
        return amount

    def _ttl(self, request: OrderRequest, now: datetime) -> timedelta:
        if request.expires_in_seconds is not None and request.expires_at is not None:
            raise ShopOrderError(Problem.BAD_REQUEST, "give expires_in_seconds or expires_at, not both")
        if request.expires_at is not None:
            if request.expires_at.tzinfo is None:
                raise ShopOrderError(Problem.BAD_REQUEST, "expires_at must carry a time zone offset")
            ttl = request.expires_at - now
        elif request.expires_in_seconds is not None:
            ttl = timedelta(seconds=request.expires_in_seconds)
        else:
            return self.rules.order_ttl
        if not MIN_TTL <= ttl <= MAX_TTL:
            raise ShopOrderError(Problem.BAD_REQUEST, "the order must expire between 1 minute and 30 days from now")
        return ttl

    def _methods(self, methods: Sequence[str] | None) -> str | None:
        if methods is None:
            return None
        unknown = sorted(set(methods) - set(self.checkouts.providers))
        if unknown or not methods:
            enabled = ", ".join(self.checkouts.providers)
            raise ShopOrderError(Problem.BAD_REQUEST, f"allowed_methods must be some of: {enabled}")
        return ",".join(dict.fromkeys(methods))
