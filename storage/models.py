"""The tables. Money is always an integer amount in minor units plus an ISO 4217 code."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, Index, Integer, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


def _timestamp(*, nullable: bool = False, index: bool = False) -> Column[datetime]:
    return Column(UTCDateTime(), nullable=nullable, index=index)


class OrderStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    PAID = "paid"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class PaymentStatus(StrEnum):
    PENDING = "pending"  # a checkout was opened; no money has moved yet
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    REFUNDED = "refunded"
    REFUND_OWED = "refund_owed"  # the provider cannot refund through us (Telegram card payments)


class RequestMode(StrEnum):
    SINGLE = "single"  # one friend pays it all
    SPLIT = "split"  # several friends chip in parts


class RequestStatus(StrEnum):
    OPEN = "open"
    PAID = "paid"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    first_name: str = Field(default="", max_length=128)
    username: str | None = Field(default=None, max_length=64)
    language_code: str | None = Field(default=None, max_length=16)
    locale: str | None = Field(default=None, max_length=16)  # chosen with /language; wins over language_code
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class Shop(SQLModel, table=True):
    __tablename__ = "shops"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    # Signs the callbacks daifu POSTs to the shop's backend; shown to the shop with its first API key.
    callback_secret: str | None = Field(default=None, max_length=256)  # 256: room for it encrypted (SECRETS_KEY)


class ApiKey(SQLModel, table=True):
    """A shop's key to the HTTP API. Only a hash is kept; the key itself is shown once, at creation."""

    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = Field(foreign_key="shops.id", index=True)
    prefix: str = Field(max_length=16, unique=True)  # the first characters, to name a key without revealing it
    key_hash: str = Field(max_length=64, unique=True)  # SHA-256 hex of the whole key
    created_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    revoked_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    revoked_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class Order(SQLModel, table=True):
    __tablename__ = "orders"

    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(max_length=64, unique=True, index=True)
    shop_id: int = Field(foreign_key="shops.id", index=True)
    title: str = Field(max_length=32)
    description: str = Field(default="", max_length=255)
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    currency: str = Field(max_length=3)
    status: OrderStatus = Field(default=OrderStatus.OPEN, sa_column=Column(String(16), nullable=False))
    created_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    payer_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    expires_at: datetime = Field(sa_column=_timestamp())
    paid_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    # Set by orders that came through the shop API.
    external_id: str | None = Field(default=None, max_length=128)
    callback_url: str | None = Field(default=None, max_length=2048)
    allowed_methods: str | None = Field(default=None, max_length=255)  # comma-separated; None: all enabled
    payforme_allowed: bool = Field(default=True)
    idempotency_key: str | None = Field(default=None, max_length=255)
    request_hash: str | None = Field(default=None, max_length=64)  # of the API body the key was first used with

    __table_args__ = (
        Index("ix_orders_status_expires_at", "status", "expires_at"),
        Index("ix_orders_created_by", "created_by"),
        Index("ix_orders_shop_created", "shop_id", "created_at"),
        Index("ix_orders_created_at_id", "created_at", "id"),
        Index("ix_orders_paid_at", "paid_at"),
        UniqueConstraint("shop_id", "idempotency_key", name="uq_orders_shop_idempotency_key"),
    )


class Payment(SQLModel, table=True):
    """One row per checkout attempt; it becomes a charge once the provider reports money moved."""

    __tablename__ = "payments"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    provider: str = Field(max_length=32)
    checkout_ref: str = Field(max_length=64, unique=True)
    # The provider's own id for the charge: the idempotency key of its notices. Unique per provider,
    # so a repeated notice can never credit twice, whichever process receives it.
    provider_ref: str | None = Field(default=None, max_length=255)
    provider_charge_ref: str | None = Field(default=None, max_length=255)
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    currency: str = Field(max_length=3)
    status: PaymentStatus = Field(default=PaymentStatus.PENDING, sa_column=Column(String(16), nullable=False))
    # False when money arrived but the order could not take it (already paid, cancelled, wrong amount).
    credited: bool = Field(default=False)
    payer_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    # Set when a friend pays for someone else's pay-for-me request (or chips in to it).
    request_id: int | None = Field(default=None, foreign_key="pay_requests.id", index=True)
    # A payer without Telegram (on the request's web page) is known only by the name they gave.
    payer_name: str | None = Field(default=None, max_length=64)
    show_name: bool = Field(default=True)  # a chip-in friend may ask to stay anonymous on the card
    # Who started this chip-in ("tg:<id>" or "web:<browser>"): while pending and fresh, its part is kept for
    # them, so friends paying at once never add up to more than the order; their own next try replaces it.
    holder: str | None = Field(default=None, max_length=80)
    # What this charge covers of the order, in the order's currency (a Stars charge is in XTR).
    credit_minor: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    # The provider's own id for the checkout (a Stripe Checkout Session id), for queries and closing.
    provider_checkout_id: str | None = Field(default=None, max_length=255)
    # Given back so far (in the charge's currency); a refund is reserved here first, so two admins
    # refunding at once can never give back more than was paid.
    refunded_minor: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    # When reconciliation last asked the provider about this checkout: its claim, so that with several
    # workers each pending checkout is looked up by one of them per round.
    checked_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    settled_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    declined_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    refunded_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    # The checkout as the provider made it (a page's URL or a code to scan) and until when it can be paid: a
    # payer asking again for the same thing is shown it again, not given another (a Stripe session each time).
    checkout_kind: str | None = Field(default=None, max_length=8)
    checkout_link: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    checkout_expires_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))

    __table_args__ = (
        UniqueConstraint("provider", "provider_ref", name="uq_payments_provider_ref"),
        Index("ix_payments_payer_id", "payer_id"),
        Index("ix_payments_settled_at", "settled_at"),
        Index("ix_payments_declined_at", "declined_at"),
    )


class PayRequest(SQLModel, table=True):
    """A shopper asking a friend (or several, chipping in) to pay an order for them."""

    __tablename__ = "pay_requests"

    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(max_length=64, unique=True, index=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    requester_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    mode: RequestMode = Field(default=RequestMode.SINGLE, sa_column=Column(String(8), nullable=False))
    shares: int | None = Field(default=None)  # split: the number of equal shares suggested to friends
    note: str = Field(default="", max_length=200)
    status: RequestStatus = Field(default=RequestStatus.OPEN, sa_column=Column(String(16), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    expires_at: datetime = Field(sa_column=_timestamp())
    reminded_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    covered_minor: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    # The hold: who is paying right now, and until when. Taken by one conditional UPDATE, so two workers
    # can never both grant it. holder is "tg:<user id>" or "web:<browser id>".
    holder: str | None = Field(default=None, max_length=64)
    holder_name: str | None = Field(default=None, max_length=64)
    hold_until: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    # However often its holder renews it, a hold ends by this time (set when it is first taken), so one browser
    # cannot keep friends out for ever.
    hold_limit: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    # When the requester last had the friends who opened it reminded: taken by one conditional UPDATE, at most
    # once in a while (services.friend_reminders), however often they tap.
    friends_reminded_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))

    __table_args__ = (
        Index("ix_pay_requests_created_at", "created_at"),
        Index("ix_pay_requests_status_expires_at", "status", "expires_at"),
        Index("ix_pay_requests_requester_status", "requester_id", "status"),
    )


class RequestCard(SQLModel, table=True):
    """A message showing a request somewhere (a group, a friend's chat), edited as the request moves on."""

    __tablename__ = "request_cards"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="pay_requests.id", index=True)
    inline_message_id: str | None = Field(default=None, max_length=255)
    chat_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    message_id: int | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class Refund(SQLModel, table=True):
    """Money given back from one charge: all of it or a part, through the provider that took it."""

    __tablename__ = "refunds"

    id: int | None = Field(default=None, primary_key=True)
    payment_id: int = Field(foreign_key="payments.id", index=True)
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    currency: str = Field(max_length=3)
    status: str = Field(max_length=16)  # "done", or "owed" when it must be made at the provider by hand
    reason: str = Field(max_length=32)
    provider_refund_ref: str | None = Field(default=None, max_length=255)
    actor_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp(index=True))
    # A refund still "pending" a while after it was asked for lost its worker during the provider call: the
    # housekeeping job asks the provider again under the same refund key, one worker at a time (this lease).
    leased_until: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    # A refund is "pending" until the provider says it succeeded ("done") or "failed"; amount_minor is then
    # what the provider says it gave back, asked_minor what daifu asked for. error: why it failed.
    asked_minor: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    finished_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    # Times the housekeeping job asked again, and what went wrong the last time: after a few it stops
    # (the refund is parked, shown in /providers) instead of asking every two minutes for ever.
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))

    # The housekeeping job looks for refunds left "pending" every minute: few among many done ones.
    __table_args__ = (
        Index("ix_refunds_status_created", "status", "created_at"),
        # A provider's refund event names the refund by the provider's id when it carries no key of daifu's.
        Index("ix_refunds_provider_refund_ref", "provider_refund_ref"),
    )


class ProviderNotice(SQLModel, table=True):
    """A verified provider notice exactly as it arrived, kept in full before it is applied (a money record).
    Notices that fail verification are not kept here but as a short RejectedNotice."""

    __tablename__ = "provider_notices"

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=32)
    event_id: str | None = Field(default=None, max_length=255)  # known once verified
    remote: str | None = Field(default=None, max_length=64)
    headers: str = Field(sa_column=Column(Text, nullable=False))  # JSON object
    body: str = Field(sa_column=Column(Text, nullable=False))
    received_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    # received -> applied | ignored (nothing to do) | failed (tried again by the housekeeping job) -> parked (after
    # PARK_AFTER_ATTEMPTS tries; shown in /providers). "rejected": stored unverified before verification came first.
    status: str = Field(default="received", max_length=16)
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # The verified event as JSON, so a failed notice can be applied again after the provider's signature
    # tolerance has run out.
    event: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    processed_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))  # tries at applying

    __table_args__ = (
        Index("ix_provider_notices_provider_event", "provider", "event_id"),
        # The housekeeping job looks for notices left "received" by a dead worker every minute.
        Index("ix_provider_notices_status_received", "status", "received_at"),
    )


class ProviderHealth(SQLModel, table=True):
    """How each provider answered its last call, for /providers; shared by every worker."""

    __tablename__ = "provider_health"

    provider: str = Field(primary_key=True, max_length=32)
    last_call_at: datetime = Field(sa_column=_timestamp())
    ok: bool
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class CallbackDelivery(SQLModel, table=True):
    """The outbox of callbacks to shops: one row per event, delivered at least once, retried with backoff."""

    __tablename__ = "callback_deliveries"

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=64, unique=True)  # stable across retries, so shops can de-duplicate
    shop_id: int = Field(foreign_key="shops.id", index=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    kind: str = Field(max_length=32)  # order.paid, order.refunded, order.cancelled, order.expired
    url: str = Field(max_length=2048)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    leased_until: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    delivered_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())

    __table_args__ = (Index("ix_callback_deliveries_due", "delivered_at", "next_attempt_at"),)


class ConversationFlow(SQLModel, table=True):
    """The step a person is at in a guided flow (/newlink, asking friends, typing a chip-in), kept in the
    database so that any worker can take the next message: PTB's ConversationHandler state lives in one
    process's memory and is read from persistence only at start."""

    __tablename__ = "conversation_flows"

    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    flow: str = Field(max_length=32)
    step: str = Field(max_length=32)
    data: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class TelegramUpdate(SQLModel, table=True):
    """The inbox of Telegram updates received by webhook: each is applied once, and none is lost.

    A row is written before the update is handled and marked done after; an update that arrives again
    (Telegram retries after a time-out) finds its row and is dropped, and one a crashed worker never
    finished is picked up again by the recovery job.
    """

    __tablename__ = "telegram_updates"

    update_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    payload: str = Field(sa_column=Column(Text, nullable=False))
    received_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    done_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    leased_until: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    # Why the update was set aside unhandled (the library could not parse it); such a row is done when written.
    rejection: str | None = Field(default=None, sa_column=Column(Text, nullable=True))

    __table_args__ = (Index("ix_telegram_updates_done_received", "done_at", "received_at"),)


class OrderEvent(SQLModel, table=True):
    """Append-only history of an order: what happened, who did it."""

    __tablename__ = "order_events"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    kind: str = Field(max_length=48)
    actor_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class AppSecret(SQLModel, table=True):
    """Secrets daifu generates for itself when the environment leaves them unset."""

    __tablename__ = "app_secrets"

    name: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=256)


class RolledPeriod(SQLModel, table=True):
    """A period whose /stats figures are pre-aggregated in stats_figures: a 10-minute slice, an hour or a UTC day.

    The row is the claim too: it is inserted first, in the transaction that writes the period's figures, so
    two workers can never both write a period.
    """

    __tablename__ = "stats_rollups"

    minutes: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))  # 10, 60 or 1440
    start: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))
    rolled_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    # Refunds of the hour still waiting for their provider when it was rolled: until they are counted again
    # its refund figures are read live, since a pending refund becomes done or owed only after the call.
    pending_refunds: int = Field(default=0)


class StatsFigure(SQLModel, table=True):
    """One figure of a rolled-up period: a count (and a sum in minor units) for a metric and a label.

    The label is a currency (refunds), "provider/currency" (providers), a time-to-pay histogram bucket
    (time_to_pay), or empty. The primary key makes writing a period twice impossible; it leads with the metric
    so that reading some metrics over a range of periods (refunds: hours only) never wades through the others.
    """

    __tablename__ = "stats_figures"

    metric: str = Field(sa_column=Column(String(16), primary_key=True))
    minutes: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    start: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))
    label: str = Field(sa_column=Column(String(48), primary_key=True))
    count: int = Field(sa_column=Column(BigInteger, nullable=False))
    amount_minor: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))

    # On SQLite the rows live in the primary key's b-tree: a range of periods is read without lookups.
    __table_args__ = {"sqlite_with_rowid": False}


class ButtonState(SQLModel, table=True):
    """What an admin's button stands for when it needs more than Telegram's 64 bytes of callback data (a
    search filter) or must work only once (a refund's Yes). Kept in the database, not in PTB's user_data,
    because user_data lives in one process's memory and the tap may reach another worker."""

    __tablename__ = "button_states"

    id: str = Field(sa_column=Column(String(16), primary_key=True))
    user_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    kind: str = Field(max_length=16)
    data: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    used_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class ApiRefundKey(SQLModel, table=True):
    """A refund asked for over the shop API under an Idempotency-Key: the key is claimed before any money moves,
    and the answer is kept, so a shop retrying after a time-out gets the same answer instead of a second refund."""

    __tablename__ = "api_refund_keys"

    shop_id: int = Field(foreign_key="shops.id", primary_key=True)
    key: str = Field(sa_column=Column(String(255), primary_key=True))
    request_hash: str = Field(max_length=64)  # of the order id and the body: the same key with another is refused
    answer: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # the JSON answered
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class OrphanCharge(SQLModel, table=True):
    """Money that arrived for a checkout daifu does not know (an old invoice, a payload from elsewhere): kept
    once per charge, told to the admins, and given back where the bot can (Stars) or recorded as owed."""

    __tablename__ = "orphan_charges"

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=32)
    charge_ref: str = Field(max_length=255)  # Telegram's telegram_payment_charge_id, or the provider's charge id
    provider_charge_ref: str | None = Field(default=None, max_length=255)  # the card provider's own id
    payload: str = Field(default="", max_length=255)  # the invoice payload (or checkout reference) it named
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    currency: str = Field(max_length=3)
    payer_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    # refunding -> refunded | refund_failed; owed (a card payment: refunded at the provider by hand);
    # unclaimed (a web provider's charge: it may belong to another app on the same account, so not refunded)
    status: str = Field(max_length=16)
    refund_ref: str | None = Field(default=None, max_length=255)
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    # One still "refunding" a while after it arrived lost its worker: the housekeeping job gives it back, one
    # worker at a time (this lease).
    leased_until: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))

    __table_args__ = (UniqueConstraint("provider", "charge_ref", name="uq_orphan_charges_provider_charge"),)


class RejectedNotice(SQLModel, table=True):
    """A POST to a notify endpoint that failed verification: a short, bounded record (no body, no headers), so
    forged notices cannot fill the database. Pruned after RETAIN_REJECTED_NOTICES."""

    __tablename__ = "rejected_notices"

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=32)
    received_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp(index=True))
    size: int  # of the body, in bytes
    remote: str | None = Field(default=None, max_length=64)
    reason: str = Field(max_length=200)


class JobLease(SQLModel, table=True):
    """Which worker runs a job that must run on one worker at a time (pruning), and until when: taken by one
    conditional UPDATE, so it simply runs out when its worker dies."""

    __tablename__ = "job_leases"

    name: str = Field(primary_key=True, max_length=32)
    leased_until: datetime = Field(sa_column=_timestamp())


class Telling(SQLModel, table=True):
    """The outbox of what people must be told: one row per message (a receipt, a requester's note, an admin's
    note, a refund or decline notice) or card redraw, written in the transaction of the change it tells of.

    The teller (handlers.teller) sends it and marks it done. claimed_until is its lease: the worker that recorded
    it holds it first, and a row whose worker died is claimed again once it runs out, by one conditional UPDATE.
    """

    __tablename__ = "tellings"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=24)  # services.telling.Kind
    chat_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))  # None: a card redraw
    # What it tells of; which are set depends on the kind. No foreign keys: these rows are written on every
    # payment, and what they name is a money record, never deleted.
    order_id: int | None = Field(default=None)
    payment_id: int | None = Field(default=None)
    request_id: int | None = Field(default=None)
    refund_id: int | None = Field(default=None)
    orphan_id: int | None = Field(default=None)
    reason: str | None = Field(default=None, max_length=24)  # a detail of the kind (services.telling)
    detail: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # why a refund failed
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    claimed_until: datetime = Field(sa_column=_timestamp())
    # Tries that failed (an error while rendering or sending, not a person who blocked the bot): after a few the
    # row is parked, like a provider notice, and no longer tried.
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    done_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))

    # The teller's sweep looks for rows not done whose lease ran out: few among many done ones.
    __table_args__ = (Index("ix_tellings_due", "done_at", "claimed_until"),)


class LiveMessage(SQLModel, table=True):
    """A message in a chat that offers to pay, share, cancel or chip in for an order or a request, remembered when
    it is sent: once the order or request is finished, the teller takes its buttons off and puts a status line in
    their place (an invoice, which cannot be edited, gets a note under it), and the row goes."""

    __tablename__ = "live_messages"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # services.live_messages.LiveKind
    # A message in a chat, or one posted through the chat picker: then only its inline_message_id is known.
    chat_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    message_id: int | None = Field(default=None)
    # No foreign keys, as for the outbox: written on the path of every order shown.
    order_id: int = Field(index=True)
    request_id: int | None = Field(default=None, index=True)
    checkout_ref: str | None = Field(default=None, max_length=64)  # the checkout an invoice or page link is for
    locale: str = Field(max_length=16)  # the language it was sent in: its status line is written in it too
    text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # the HTML as sent, if a text
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp(index=True))
    inline_message_id: str | None = Field(default=None, max_length=255)


class StarLedgerEntry(SQLModel, table=True):
    """One transaction of the bot's Telegram Stars ledger (getStarTransactions) and what daifu matched it with.
    Telegram lists the ledger oldest first and pages it by how many to skip, so each transaction's position in
    it is its key and the next read starts after the last one kept."""

    __tablename__ = "star_ledger"

    position: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    # The transaction's id: a payment's telegram_payment_charge_id, which its refund carries too.
    charge_id: str = Field(max_length=255)
    incoming: bool
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))  # in Stars
    partner: str = Field(max_length=32)  # the TransactionPartner's type: user, fragment, telegram_ads, ...
    user_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    made_at: datetime = Field(sa_column=_timestamp())
    read_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    # services.stars_ledger.Match: payment, refund, outside_refund, orphan, other (not a payment: a withdrawal),
    # or unmatched (shown to the admins in /providers, with why in note).
    matched: str = Field(max_length=16)
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))

    __table_args__ = (
        Index("ix_star_ledger_charge", "charge_id", "incoming"),
        Index("ix_star_ledger_matched", "matched", "position"),
    )
