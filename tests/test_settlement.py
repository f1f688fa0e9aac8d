"""Money is credited exactly once, whatever arrives twice, late or at the same moment (both databases); and what
people are told of it is recorded once, with the change (services.telling)."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlmodel import select

from payments.base import ChargeOutcome, InvalidNotice
from payments.sandbox import SIGNATURE_HEADER, SandboxGateway
from services.config import ShopRules
from services.daifu import Daifu
from services.money import Money
from services.notices import PaymentReturned, ReturnReason
from services.order_states import move
from services.telling_rows import Kind
from storage.database import Database
from storage.models import Order, OrderEvent, OrderStatus, Payment, PaymentStatus, Refund, Telling

SHOPPER = 1001


@pytest.fixture
def daifu(db: Database) -> Daifu:
    rules = ShopRules(shop_name="Test shop", admin_ids=frozenset({1}), public_base_url="http://shop.test")
    return Daifu(db, rules, {"sandbox": SandboxGateway("secret", "http://shop.test")})


def gateway(daifu: Daifu) -> SandboxGateway:
    provider = daifu.providers["sandbox"]
    assert isinstance(provider, SandboxGateway)
    return provider


async def paid_notice(
    daifu: Daifu, token: str, outcome: ChargeOutcome = ChargeOutcome.SUCCEEDED, *, payer_id: int = SHOPPER
) -> bytes:
    """Open a sandbox checkout for the order and press Pay (or Decline) on it; returns the signed notice."""
    checkout = await daifu.checkouts.start(token, "sandbox", payer_id=payer_id)
    assert checkout.url is not None
    session = gateway(daifu).open_session(checkout.url.rsplit("/", 1)[1])
    assert session is not None
    headers, body = gateway(daifu).signed_notice(session, outcome)
    return headers[SIGNATURE_HEADER].encode() + b"\n" + body


async def recorded(daifu: Daifu) -> list[Telling]:
    """Every row of the outbox: what people are to be told."""
    async with daifu.db.transaction() as session:
        return list((await session.exec(select(Telling).order_by(Telling.id))).all())  # type: ignore[arg-type]


async def deliver(daifu: Daifu, notice: bytes) -> list[Telling]:
    """Apply the notice; the rows it recorded in the outbox."""
    before = len(await recorded(daifu))
    signature, body = notice.split(b"\n", 1)
    event = await gateway(daifu).parse_notice({SIGNATURE_HEADER: signature.decode()}, body)
    await daifu.payment_intake.receive(event)
    return (await recorded(daifu))[before:]


async def refund_of(daifu: Daifu, row: Telling) -> Refund:
    async with daifu.db.transaction() as session:
        refund = await session.get(Refund, row.refund_id)
    assert refund is not None
    return refund


async def order_state(daifu: Daifu, token: str) -> tuple[Order, list[Payment]]:
    async with daifu.db.transaction() as session:
        order = (await session.exec(select(Order).where(Order.token == token))).one()
        payments = list((await session.exec(select(Payment).where(Payment.order_id == order.id))).all())
    return order, payments


async def test_a_repeated_notice_credits_once(daifu: Daifu) -> None:
    order = await daifu.orders.create(Money(1250, "USD"), "Coffee beans", created_by=1)
    notice = await paid_notice(daifu, order.token)

    first = await deliver(daifu, notice)
    again = await deliver(daifu, notice)

    assert [(row.kind, row.chat_id) for row in first] == [
        (Kind.RECEIPT, SHOPPER),
        (Kind.PAID_NOTE, 1),
        (Kind.TIDY, None),  # the messages that offered to pay lose their buttons
    ]
    assert again == []
    stored, payments = await order_state(daifu, order.token)
    assert stored.status == OrderStatus.PAID and stored.payer_id == SHOPPER
    assert [(p.status, p.credited, p.amount_minor) for p in payments] == [(PaymentStatus.SUCCEEDED, True, 1250)]


async def test_the_same_notice_delivered_concurrently_credits_once(daifu: Daifu) -> None:
    order = await daifu.orders.create(Money(999, "EUR"), "Tea", created_by=1)
    notice = await paid_notice(daifu, order.token)

    await asyncio.gather(*(deliver(daifu, notice) for _ in range(5)))

    assert [row.kind for row in await recorded(daifu)] == [Kind.RECEIPT, Kind.PAID_NOTE, Kind.TIDY]
    _stored, payments = await order_state(daifu, order.token)
    assert len([p for p in payments if p.status == PaymentStatus.SUCCEEDED]) == 1


async def test_a_second_payment_for_a_paid_order_goes_back_to_its_payer(daifu: Daifu) -> None:
    order = await daifu.orders.create(Money(500, "USD"), "Cake", created_by=1)
    first = await paid_notice(daifu, order.token)
    # Opened before the first one was paid, by someone else the link reached (the same payer asking again is
    # shown their own checkout: tests/flows/test_checkout_reuse.py).
    second = await paid_notice(daifu, order.token, payer_id=SHOPPER + 1)

    await deliver(daifu, first)
    late = await deliver(daifu, second)

    assert [(row.kind, row.chat_id) for row in late] == [(Kind.REFUNDED, SHOPPER + 1), (Kind.REFUND_NOTE, 1)]
    refund = await refund_of(daifu, late[0])
    assert refund.reason == ReturnReason.ALREADY_PAID and refund.status == "done"
    stored, payments = await order_state(daifu, order.token)
    assert stored.status == OrderStatus.PAID
    assert sorted((p.status, p.credited) for p in payments) == [
        (PaymentStatus.REFUNDED, False),
        (PaymentStatus.SUCCEEDED, True),
    ]


async def test_money_for_a_cancelled_order_is_refunded(daifu: Daifu) -> None:
    order = await daifu.orders.create(Money(500, "USD"), "Cake", created_by=1)
    notice = await paid_notice(daifu, order.token)
    async with daifu.db.transaction() as session:
        assert order.id is not None
        assert (await move(session, order.id, OrderStatus.CANCELLED, actor_id=1)).done

    told = await deliver(daifu, notice)

    assert told[0].kind == Kind.REFUNDED
    assert (await refund_of(daifu, told[0])).reason == ReturnReason.ORDER_CLOSED
    stored, payments = await order_state(daifu, order.token)
    assert stored.status == OrderStatus.CANCELLED
    assert [p.status for p in payments] == [PaymentStatus.REFUNDED]


async def test_a_declined_payment_leaves_the_order_payable(daifu: Daifu) -> None:
    order = await daifu.orders.create(Money(500, "USD"), "Cake", created_by=1)
    declined = await deliver(daifu, await paid_notice(daifu, order.token, ChargeOutcome.DECLINED))
    assert [(row.kind, row.chat_id) for row in declined] == [(Kind.DECLINED, SHOPPER)]
    assert (await daifu.orders.payable(order.token)).status == OrderStatus.PENDING

    await deliver(daifu, await paid_notice(daifu, order.token))
    stored, _payments = await order_state(daifu, order.token)
    assert stored.status == OrderStatus.PAID


async def test_refund_happens_once_and_the_order_shows_refunded(daifu: Daifu) -> None:
    order = await daifu.orders.create(Money(500, "USD"), "Cake", created_by=1)
    await deliver(daifu, await paid_notice(daifu, order.token))
    _stored, payments = await order_state(daifu, order.token)
    assert payments[0].id is not None

    results = await asyncio.gather(
        *(daifu.refunds.refund(payments[0].id, reason=ReturnReason.SHOP_REFUND, actor_id=1) for _ in range(3)),
        return_exceptions=True,
    )

    assert len([r for r in results if isinstance(r, PaymentReturned)]) == 1
    assert [row.kind for row in await recorded(daifu)].count(Kind.REFUNDED) == 1  # and its payer is told once
    stored, payments = await order_state(daifu, order.token)
    assert stored.status == OrderStatus.REFUNDED and payments[0].status == PaymentStatus.REFUNDED
    async with daifu.db.transaction() as session:
        kinds = [e.kind for e in (await session.exec(select(OrderEvent).where(OrderEvent.order_id == order.id)))]
    assert kinds == ["created", "pending", "paid", "refunded"]


async def test_illegal_transitions_are_refused_with_the_actual_state(daifu: Daifu) -> None:
    order = await daifu.orders.create(Money(500, "USD"), "Cake", created_by=1)
    assert order.id is not None
    async with daifu.db.transaction() as session:
        refused = await move(session, order.id, OrderStatus.PAID)
    assert not refused.done and refused.status == OrderStatus.OPEN
    assert "open" in refused.reason


async def test_forged_and_stale_notices_are_refused(daifu: Daifu) -> None:
    order = await daifu.orders.create(Money(500, "USD"), "Cake", created_by=1)
    checkout = await daifu.checkouts.start(order.token, "sandbox", payer_id=SHOPPER)
    assert checkout.url is not None
    session = gateway(daifu).open_session(checkout.url.rsplit("/", 1)[1])
    assert session is not None
    headers, body = gateway(daifu).signed_notice(session, ChargeOutcome.SUCCEEDED)

    with pytest.raises(InvalidNotice):
        await gateway(daifu).parse_notice(headers, body.replace(b"500", b"5"))  # amount changed in transit
    forger = SandboxGateway("another secret", "http://shop.test")
    forged_headers, forged_body = forger.signed_notice(session, ChargeOutcome.SUCCEEDED)
    with pytest.raises(InvalidNotice):
        await gateway(daifu).parse_notice(forged_headers, forged_body)
    stale_headers, stale_body = gateway(daifu).signed_notice(session, ChargeOutcome.SUCCEEDED, now=time.time() - 3600)
    with pytest.raises(InvalidNotice):
        await gateway(daifu).parse_notice(stale_headers, stale_body)
    stored, _payments = await order_state(daifu, order.token)
    assert stored.status == OrderStatus.PENDING
