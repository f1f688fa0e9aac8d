"""Orders: creating them, finding them by token, telling whether they can still be paid, expiring them."""

from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from services.config import ShopRules
from services.money import Money
from services.order_states import PAYABLE, move, record_event
from services.read_models import OrderInfo
from services.telling import Tellings
from services.tokens import looks_like_token, new_order_token
from services.why_not import WhyNot, why_not_order
from storage.database import Database
from storage.models import Order, OrderEvent, OrderStatus, Shop, utcnow
from storage.queries.api_keys import shop_named
from storage.queries.order_records import events_of_order
from storage.queries.orders import order_by_token, order_made_in, orders_past_time, shop_id_named

log = logging.getLogger(__name__)

TITLE_MAX = 32  # Telegram's invoice title limit
DESCRIPTION_MAX = 255


class OrderNotPayable(Exception):
    def __init__(self, why: WhyNot) -> None:
        super().__init__(why.value)
        self.why = why


class InvalidTitle(ValueError):
    pass


def chat_message_key(chat_id: int, message_id: int) -> str:
    """The idempotency key of an order asked for in a chat: that message, wherever and however often handled.
    Keys the shop API is given are the shop's own; a message's key stays apart from them (Orders.made_in)."""
    return f"telegram:{chat_id}:{message_id}"


async def by_token_in(session: AsyncSession, token: str) -> Order | None:
    if not looks_like_token(token):
        return None
    return await order_by_token(session, token=token)


async def payable_in(session: AsyncSession, token: str) -> Order:
    """Orders.payable within a transaction already open."""
    order = await by_token_in(session, token)
    if order is None:
        raise OrderNotPayable(WhyNot.UNKNOWN_ORDER)
    why = why_not_order(order, utcnow())
    if why is not None:
        raise OrderNotPayable(why)
    return order


class Orders:
    def __init__(self, db: Database, rules: ShopRules, tellings: Tellings) -> None:
        self.db = db
        self.rules = rules
        self.tellings = tellings
        self._shop_id: int | None = None

    async def shop_id(self) -> int:
        """The shop chat-made orders belong to; created on first use."""
        if self._shop_id is None:
            name = self.rules.shop_name
            try:
                async with self.db.transaction() as session:
                    shop = await shop_named(session, name=name)
                    if shop is None:
                        shop = Shop(name=name)
                        session.add(shop)
                        await session.flush()
                    self._shop_id = shop.id
            except IntegrityError:  # another worker created it at the same moment
                async with self.db.transaction() as session:
                    self._shop_id = await shop_id_named(session, name=name)
        assert self._shop_id is not None
        return self._shop_id

    async def create(
        self,
        amount: Money,
        title: str,
        *,
        created_by: int | None,
        description: str = "",
        asked_in: str | None = None,
    ) -> OrderInfo:
        """A new order; or, when asked_in names the chat message that asked for it (see chat_message_key) and
        that message made one already, that order: a command handled twice makes one order."""
        title = " ".join(title.split())
        if not 1 <= len(title) <= TITLE_MAX:
            raise InvalidTitle(title)
        now = utcnow()
        order = Order(
            token=new_order_token(),
            shop_id=await self.shop_id(),
            title=title,
            description=description[:DESCRIPTION_MAX],
            amount_minor=amount.minor,
            currency=amount.currency,
            created_by=created_by,
            created_at=now,
            expires_at=now + self.rules.order_ttl,
            idempotency_key=asked_in,
        )
        try:
            async with self.db.transaction() as session:
                session.add(order)
                await session.flush()
                assert order.id is not None
                await record_event(
                    session,
                    order.id,
                    "created",
                    actor_id=created_by,
                    amount=amount.minor,
                    currency=amount.currency,
                )
                made = OrderInfo.of(order)
        except IntegrityError:
            # The shop's unique idempotency key: this message made its order before (or at the same moment).
            earlier = await self.made_in(asked_in, created_by=created_by) if asked_in is not None else None
            if earlier is None:
                raise
            return earlier
        return made

    async def made_in(self, asked_in: str, *, created_by: int | None) -> OrderInfo | None:
        """The order a chat message made (Orders.create's asked_in), if any."""
        shop_id = await self.shop_id()
        async with self.db.reading() as session:
            order = await order_made_in(session, shop_id=shop_id, key=asked_in, created_by=created_by)
            return None if order is None else OrderInfo.of(order)

    async def by_token(self, token: str) -> OrderInfo | None:
        async with self.db.reading() as session:
            order = await by_token_in(session, token)
            return None if order is None else OrderInfo.of(order)

    async def payable(self, token: str) -> OrderInfo:
        """The order behind a link, if it can still be paid; otherwise OrderNotPayable says why."""
        async with self.db.reading() as session:
            return OrderInfo.of(await payable_in(session, token))

    async def events(self, order_id: int) -> list[OrderEvent]:
        async with self.db.transaction() as session:
            return await events_of_order(session, order_id=order_id)

    async def expire_due(self) -> list[int]:
        """Expire every open or pending order past its time; returns the ids that moved."""
        now = utcnow()
        async with self.db.transaction() as session:
            ids = await orders_past_time(session, statuses=PAYABLE, now=now)
        expired = []
        for order_id in ids:
            try:
                async with self.db.transaction() as session:
                    if (await move(session, order_id, OrderStatus.EXPIRED)).done:
                        await self.tellings.tidy(session, order_id=order_id, reason=OrderStatus.EXPIRED.value)
                        expired.append(order_id)
            except Exception:  # each order alone: one that cannot move holds up none of the others
                log.exception("could not expire order %s", order_id)
        return expired
