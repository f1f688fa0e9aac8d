"""Orders made through the shop HTTP API: created under an idempotency key, read, listed, cancelled, refunded.

Every call is scoped to one shop (the one the API key belongs to): another shop's order is simply not found,
so ids reveal nothing. The HTTP layer (web.shop_api) only parses and renders; the rules live here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import and_, col, delete, desc, or_, select, update
from sqlmodel.sql.expression import SelectOfScalar

from payments.base import PaymentError
from services.callback_targets import callback_url_problem
from services.checkout import Checkouts
from services.config import ShopRules
from services.money import MAX_MAJOR_UNITS, AmountProblem, InvalidAmount, Money, major_units, normalise_currency
from services.notices import PaymentReturned, ReturnReason
from services.order_closing import OrderClosing, OrderNotCancellable
from services.order_states import PAYABLE, record_event
from services.orders import DESCRIPTION_MAX, TITLE_MAX
from services.settlement import RefundRefused, Settlements
from services.tokens import new_order_token
from services.why_not import order_status_now
from storage.database import Database
from storage.models import ApiRefundKey, Order, OrderStatus, Payment, PaymentStatus, utcnow

MIN_TTL = timedelta(minutes=1)
REFUND_KEY_STALE = timedelta(minutes=5)  # a refund's provider call takes seconds; after this it was interrupted
MAX_TTL = timedelta(days=30)
EXTERNAL_ID_MAX = 128
CALLBACK_URL_MAX = 2048
IDEMPOTENCY_KEY_MAX = 255
PAGE_MAX = 100
ORDER_ID_MAX = 2**31 - 1  # orders.id is a 32-bit INTEGER: a larger id is unknown, not an error


class Problem(StrEnum):
    """The stable error codes of the API; web.shop_api maps each to its HTTP status."""

    BAD_REQUEST = "bad_request"
    INVALID_AMOUNT = "invalid_amount"
    UNKNOWN_CURRENCY = "unknown_currency"
    NO_PAYMENT_METHOD = "no_payment_method"  # no allowed, enabled method can take this currency
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    IN_PROGRESS = "in_progress"  # a refund under this Idempotency-Key is still being made
    NOT_REFUNDABLE = "not_refundable"
    PROVIDER_ERROR = "provider_error"  # the payment provider failed to refund; nothing was given back


class ShopOrderError(Exception):
    def __init__(self, problem: Problem, message: str) -> None:
        super().__init__(message)
        self.problem = problem
        self.message = message


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
class ShopOrder:
    order: Order
    charges: list[Payment] = field(default_factory=list)  # the credited charges: what was paid and refunded

    @property
    def status(self) -> OrderStatus:
        """The status a shop should see: an open order past its time is expired, swept or not."""
        return order_status_now(self.order, utcnow())


@dataclass(frozen=True, slots=True)
class Created:
    order: ShopOrder
    replayed: bool  # True when the idempotency key had already made this order


@dataclass(frozen=True, slots=True)
class OrderPage:
    orders: list[ShopOrder]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class RefundOutcome:
    order: ShopOrder
    returned: list[PaymentReturned]  # one per charge refunded (a split order may have several)

    @property
    def owed(self) -> bool:
        return any(notice.owed for notice in self.returned)


def request_hash(body: Mapping[str, Any]) -> str:
    """The fingerprint of an API body: SHA-256 of its canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def encode_cursor(order: Order) -> str:
    raw = f"{order.created_at.isoformat()}|{order.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, _, order_id = raw.partition("|")
        created_at, last_id = datetime.fromisoformat(when), int(order_id)
    except (ValueError, binascii.Error):
        raise ShopOrderError(Problem.BAD_REQUEST, "cursor is not one this API gave out") from None
    if created_at.tzinfo is None or not 0 < last_id <= ORDER_ID_MAX:
        raise ShopOrderError(Problem.BAD_REQUEST, "cursor is not one this API gave out")
    return created_at, last_id


class ShopOrders:
    def __init__(
        self,
        db: Database,
        rules: ShopRules,
        checkouts: Checkouts,
        settlements: Settlements,
        closing: OrderClosing,
    ) -> None:
        self.db = db
        self.rules = rules
        self.checkouts = checkouts
        self.settlements = settlements
        self.closing = closing

    # -- creating ---------------------------------------------------------------------------------------

    async def create(self, shop_id: int, idempotency_key: str, request: OrderRequest, fingerprint: str) -> Created:
        """The order for this key: made now, or the one the key already made with the same body."""
        if not 1 <= len(idempotency_key) <= IDEMPOTENCY_KEY_MAX:
            raise ShopOrderError(Problem.BAD_REQUEST, "Idempotency-Key must be 1 to 255 characters")
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
        except IntegrityError:
            # The same key won a race with us (the unique constraint on shop and key decides): answer with it.
            earlier = await self._by_key(shop_id, idempotency_key)
            if earlier is None:
                raise
            return await self._replay(earlier, fingerprint)
        return Created(ShopOrder(order), replayed=False)

    # -- refunding under a key ------------------------------------------------------------------------

    async def claim_refund_key(self, shop_id: int, key: str, fingerprint: str) -> str | None:
        """Take the key for this refund (None), or the answer a refund under it gave before (to replay).

        The key is taken before any money moves, by inserting its row (the primary key decides between two
        requests at once): a retry that comes while the first is still at the provider is told to wait.
        """
        if not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX:
            raise ShopOrderError(Problem.BAD_REQUEST, "Idempotency-Key must be 1 to 255 characters")
        try:
            async with self.db.transaction() as session:
                session.add(ApiRefundKey(shop_id=shop_id, key=key, request_hash=fingerprint))
            return None
        except IntegrityError:
            async with self.db.transaction() as session:
                taken = await session.get(ApiRefundKey, (shop_id, key))
        if taken is None:  # released a moment ago by a refused attempt: this one may try
            return await self.claim_refund_key(shop_id, key, fingerprint)
        if taken.request_hash != fingerprint:
            raise ShopOrderError(
                Problem.IDEMPOTENCY_CONFLICT, "this Idempotency-Key was already used for another refund"
            )
        if taken.answer is None and taken.created_at < utcnow() - REFUND_KEY_STALE:
            raise ShopOrderError(
                Problem.IN_PROGRESS,
                "a refund under this Idempotency-Key was interrupted; daifu finishes it by itself: read the order "
                "(GET /api/v1/orders/{id}) to see what was given back",
            )
        if taken.answer is None:
            raise ShopOrderError(
                Problem.IN_PROGRESS, "a refund under this Idempotency-Key is still being made: ask again shortly"
            )
        return taken.answer

    async def keep_refund_answer(self, shop_id: int, key: str, answer: str) -> None:
        async with self.db.transaction() as session:
            await session.exec(
                update(ApiRefundKey)
                .where(col(ApiRefundKey.shop_id) == shop_id, col(ApiRefundKey.key) == key)
                .values(answer=answer)
            )

    async def release_refund_key(self, shop_id: int, key: str) -> None:
        """Nothing was given back under the key (refused, or the provider failed): the shop may use it again."""
        async with self.db.transaction() as session:
            await session.exec(
                delete(ApiRefundKey).where(col(ApiRefundKey.shop_id) == shop_id, col(ApiRefundKey.key) == key)
            )

    async def _by_key(self, shop_id: int, key: str) -> Order | None:
        async with self.db.transaction() as session:
            statement = select(Order).where(Order.shop_id == shop_id, Order.idempotency_key == key)
            return (await session.exec(statement)).first()

    async def _replay(self, order: Order, fingerprint: str) -> Created:
        if order.request_hash != fingerprint:
            raise ShopOrderError(
                Problem.IDEMPOTENCY_CONFLICT, "this Idempotency-Key was already used with a different body"
            )
        return Created(await self._view(order), replayed=True)

    def _new_order(self, shop_id: int, request: OrderRequest) -> Order:
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
            raise ShopOrderError(Problem.NO_PAYMENT_METHOD, f"no allowed payment method can take {currency} orders")
        return order

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

    # -- reading ----------------------------------------------------------------------------------------

    async def get(self, shop_id: int, order_id: int) -> ShopOrder:
        return await self._view(await self._own(shop_id, order_id))

    async def _own(self, shop_id: int, order_id: int) -> Order:
        order = None
        if 0 < order_id <= ORDER_ID_MAX:  # beyond the column's range PostgreSQL would fail, not answer
            async with self.db.transaction() as session:
                statement = select(Order).where(Order.id == order_id, Order.shop_id == shop_id)
                order = (await session.exec(statement)).first()
        if order is None:
            raise ShopOrderError(Problem.NOT_FOUND, "no such order")
        return order

    async def _view(self, order: Order) -> ShopOrder:
        return (await self._views([order]))[0]

    async def _views(self, orders: list[Order]) -> list[ShopOrder]:
        ids = [order.id for order in orders]
        async with self.db.transaction() as session:
            statement = (
                select(Payment)
                .where(col(Payment.order_id).in_(ids), col(Payment.credited).is_(True))
                .order_by(col(Payment.id))
            )
            charges = list((await session.exec(statement)).all())
        return [ShopOrder(order, [c for c in charges if c.order_id == order.id]) for order in orders]

    async def page(self, shop_id: int, *, status: OrderStatus | None, limit: int, cursor: str | None) -> OrderPage:
        """The shop's orders, newest first; keyset paging on (created_at, id) so pages never shift."""
        if not 1 <= limit <= PAGE_MAX:
            raise ShopOrderError(Problem.BAD_REQUEST, f"limit must be 1 to {PAGE_MAX}")
        statement = select(Order).where(Order.shop_id == shop_id)
        if status is not None:
            statement = self._with_status(statement, status)
        if cursor is not None:
            created_at, last_id = decode_cursor(cursor)
            statement = statement.where(
                or_(
                    col(Order.created_at) < created_at,
                    and_(col(Order.created_at) == created_at, col(Order.id) < last_id),
                )
            )
        statement = statement.order_by(desc(Order.created_at), desc(Order.id)).limit(limit + 1)
        async with self.db.transaction() as session:
            rows = list((await session.exec(statement)).all())
        more = len(rows) > limit
        rows = rows[:limit]
        return OrderPage(await self._views(rows), encode_cursor(rows[-1]) if more else None)

    @staticmethod
    def _with_status(statement: SelectOfScalar[Order], status: OrderStatus) -> SelectOfScalar[Order]:
        # Filter by the status shops see (ShopOrder.status): open orders past their time count as expired.
        now = utcnow()
        if status in PAYABLE:
            return statement.where(col(Order.status) == status, col(Order.expires_at) > now)
        if status == OrderStatus.EXPIRED:
            overdue = and_(col(Order.status).in_(PAYABLE), col(Order.expires_at) <= now)
            return statement.where(or_(col(Order.status) == status, overdue))
        return statement.where(col(Order.status) == status)

    # -- closing and refunding -------------------------------------------------------------------------

    async def cancel(self, shop_id: int, order_id: int) -> ShopOrder:
        """Cancel an open or pending order (its requests close and chip-ins go back; their people are told)."""
        await self._own(shop_id, order_id)
        try:
            await self.closing.cancel(order_id, actor_id=None)
        except OrderNotCancellable as refusal:
            raise ShopOrderError(
                Problem.CONFLICT, f"an order that is {refusal.status.value} cannot be cancelled"
            ) from None
        return await self.get(shop_id, order_id)

    async def refund(self, shop_id: int, order_id: int, amount_minor: int | None) -> RefundOutcome:
        """Give back all that is left of the order's charges, or `amount_minor` of it (in the charges' currency),
        each part through the provider that took it. Settlements reserves every part before the provider is
        asked, so concurrent refunds can never give back more than was paid."""
        order = await self._own(shop_id, order_id)
        view = await self._view(order)
        left = [c for c in view.charges if c.status == PaymentStatus.SUCCEEDED and c.refunded_minor < c.amount_minor]
        if not left:
            raise ShopOrderError(Problem.NOT_REFUNDABLE, "nothing paid for this order is left to refund")
        plan: list[tuple[Payment, Money | None]] = [(charge, None) for charge in left]
        if amount_minor is not None and amount_minor <= 0:
            raise ShopOrderError(Problem.INVALID_AMOUNT, "amount_minor must be above 0")
        if amount_minor is not None:
            plan = self._split_refund(left, amount_minor)
        returned: list[PaymentReturned] = []
        for charge, part in plan:
            assert charge.id is not None
            try:
                returned.append(
                    await self.settlements.refund(
                        charge.id, reason=ReturnReason.SHOP_REFUND, actor_id=None, amount=part
                    )
                )
            except RefundRefused as refusal:
                if returned:  # part of it went back; the answer shows how much
                    break
                raise ShopOrderError(Problem.NOT_REFUNDABLE, str(refusal)) from None
            except PaymentError as error:
                if returned:
                    break
                raise ShopOrderError(Problem.PROVIDER_ERROR, f"the provider refused the refund: {error}") from None
        return RefundOutcome(await self.get(shop_id, order_id), returned)

    @staticmethod
    def _split_refund(left: list[Payment], amount_minor: int) -> list[tuple[Payment, Money | None]]:
        """A part refund taken from the newest charges first (one charge, in all but split orders)."""
        currencies = {charge.currency for charge in left}
        if len(currencies) > 1:
            raise ShopOrderError(
                Problem.NOT_REFUNDABLE, "the order was paid in several currencies: refund all of it instead"
            )
        remaining = sum(charge.amount_minor - charge.refunded_minor for charge in left)
        if amount_minor > remaining:
            currency = left[0].currency
            raise ShopOrderError(
                Problem.NOT_REFUNDABLE, f"that is more than is left to refund ({remaining} {currency} minor units)"
            )
        plan: list[tuple[Payment, Money | None]] = []
        wanted = amount_minor
        for charge in reversed(left):
            part = min(wanted, charge.amount_minor - charge.refunded_minor)
            plan.append((charge, Money(part, charge.currency)))
            wanted -= part
            if wanted == 0:
                break
        return plan
