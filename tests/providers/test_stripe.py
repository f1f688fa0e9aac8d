"""Stripe Checkout against an in-process fake Stripe: the adapter alone, then daifu running for real.

The journeys: pay on the hosted page and be refunded by the admin; a lost webhook found by
reconciliation; a friend paying a pay-for-me request. Then every bad notice: forged, stale, tampered,
replayed, for a checkout daifu never opened, for the wrong amount or currency, for a cancelled order, and
an expiry that arrives after the payment.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from babel.numbers import get_currency_precision
from sqlmodel import col, select, update

from payments.base import (
    Amount,
    ChargeOutcome,
    CheckoutRef,
    CheckoutRequest,
    InvalidNotice,
    PaymentError,
    RefundRequest,
)
from payments.stripe_checkout import StripeCheckout
from services.notices import ReturnReason
from storage.models import (
    Order,
    OrderStatus,
    OrphanCharge,
    Payment,
    PaymentStatus,
    ProviderNotice,
    Refund,
    RejectedNotice,
    utcnow,
)
from tests.flows.payforme_steps import ask_friend, open_request
from tests.harness import BOT_USERNAME, RunningShop, running_shop
from tests.providers.fake_stripe import FakeStripe

API_KEY = "sk_test_daifu_51Hfake"
WEBHOOK_SECRET = "whsec_daifu_test_secret"
USD_1250 = Amount(1250, "USD")


# -- the adapter on its own ------------------------------------------------------------------------------


def checkout_request(ref: str = "chk_1", *, expires_in: timedelta = timedelta(days=3)) -> CheckoutRequest:
    return CheckoutRequest(
        checkout_ref=ref,
        order_token="tok",
        title="Coffee beans",
        description="Coffee beans",
        amount=USD_1250,
        expires_at=datetime.now(UTC) + expires_in,
        return_url="http://daifu.test/o/tok",
    )


def test_takes_the_currencies_whose_minor_units_stripe_and_iso_agree_on() -> None:
    adapter = StripeCheckout(api_key=API_KEY, webhook_secret=WEBHOOK_SECRET, api_base="http://127.0.0.1:9")
    assert all(adapter.capabilities.takes(code) for code in ("USD", "EUR", "CNY", "JPY", "KRW", "UGX", "TWD"))
    # HUF: two-decimal at Stripe; offered exactly when the installed Babel (CLDR) agrees (it stopped at 2.19).
    assert adapter.capabilities.takes("HUF") == (get_currency_precision("HUF") == 2)
    # Stars; Stripe's two-decimal ISK and MMK (zero-decimal in ISO); three-decimal KWD; unsupported IRR.
    assert not any(adapter.capabilities.takes(code) for code in ("XTR", "ISK", "MMK", "KWD", "IRR", "usd"))


async def test_checkout_session_is_created_once_per_checkout(provider: StripeCheckout, fake: FakeStripe) -> None:
    first = await provider.create_checkout(checkout_request())
    again = await provider.create_checkout(checkout_request())  # a retry of the same attempt

    assert first.url is not None and first.url.startswith(f"{fake.url}/c/pay/cs_test_")
    assert again.provider_checkout_id == first.provider_checkout_id and len(fake.sessions) == 1
    sent = fake.requests[0]
    assert sent.idempotency_key == "daifu-checkout-chk_1"
    assert sent.params["mode"] == "payment"
    assert sent.params["line_items"] == [
        {
            "quantity": "1",
            "price_data": {"currency": "usd", "unit_amount": "1250", "product_data": {"name": "Coffee beans"}},
        }
    ]
    assert sent.params["success_url"] == sent.params["cancel_url"] == "http://daifu.test/o/tok"
    assert sent.params["client_reference_id"] == "chk_1" and sent.params["metadata"] == {"checkout_ref": "chk_1"}


@pytest.mark.parametrize(
    ("expires_in", "lifetime"),
    [
        (timedelta(minutes=5), (timedelta(minutes=31), timedelta(minutes=41))),  # Stripe's least, and a margin
        (timedelta(hours=3), (timedelta(hours=3), timedelta(hours=3))),  # the order's own expiry
        (timedelta(days=3), (timedelta(hours=23, minutes=49), timedelta(hours=23, minutes=59))),  # the most
    ],
)
async def test_session_expiry_is_pulled_into_stripes_window(
    provider: StripeCheckout, fake: FakeStripe, expires_in: timedelta, lifetime: tuple[timedelta, timedelta]
) -> None:
    asked = checkout_request(expires_in=expires_in)
    checkout = await provider.create_checkout(asked)
    session = fake.sessions[checkout.provider_checkout_id or ""]
    ends_in = timedelta(seconds=session["expires_at"] - time.time())
    assert lifetime[0] - timedelta(seconds=5) <= ends_in <= lifetime[1] + timedelta(seconds=1)
    assert checkout.expires_at == datetime.fromtimestamp(session["expires_at"], UTC)


async def test_stripe_errors_become_payment_errors_without_the_key(fake: FakeStripe) -> None:
    wrong = StripeCheckout(api_key="sk_test_wrong_key_1234", webhook_secret=WEBHOOK_SECRET, api_base=fake.url)
    try:
        with pytest.raises(PaymentError) as refused:
            await wrong.create_checkout(checkout_request())
    finally:
        await wrong.aclose()
    assert "401" in str(refused.value) and "sk_test" not in str(refused.value)


async def test_refunds_are_bounded_and_idempotent(provider: StripeCheckout, fake: FakeStripe) -> None:
    checkout = await provider.create_checkout(checkout_request())
    intent = (await fake.pay(checkout.provider_checkout_id or "", notify=False))["data"]["object"]["payment_intent"]

    part = RefundRequest(intent, Amount(250, "USD"), USD_1250, refund_key="daifu-refund-1")
    first = await provider.refund(part)
    assert await provider.refund(part) == first  # the same key: the same refund, nothing more given back
    assert first.amount == Amount(250, "USD") and len(fake.refunds) == 1
    assert fake.requests[-1].idempotency_key == "daifu-refund-1"

    with pytest.raises(PaymentError, match="amount_too_large"):
        await provider.refund(RefundRequest(intent, Amount(1001, "USD"), USD_1250, refund_key="daifu-refund-2"))
    rest = await provider.refund(RefundRequest(intent, Amount(1000, "USD"), USD_1250, refund_key="daifu-refund-3"))
    assert rest.amount == Amount(1000, "USD")
    with pytest.raises(PaymentError, match="charge_already_refunded"):
        await provider.refund(RefundRequest(intent, Amount(1, "USD"), USD_1250, refund_key="daifu-refund-4"))


async def test_query_and_close_follow_the_session(provider: StripeCheckout, fake: FakeStripe) -> None:
    open_one = await provider.create_checkout(checkout_request("chk_open"))
    paid_one = await provider.create_checkout(checkout_request("chk_paid"))
    ref = CheckoutRef("chk_open", open_one.provider_checkout_id, USD_1250)
    paid_ref = CheckoutRef("chk_paid", paid_one.provider_checkout_id, USD_1250)
    assert await provider.query(ref) is None
    assert await provider.query(CheckoutRef("chk_none", None, USD_1250)) is None
    await fake.pay(paid_one.provider_checkout_id or "", notify=False)

    found = await provider.query(paid_ref)
    assert found is not None and found.outcome == ChargeOutcome.SUCCEEDED and found.amount == USD_1250
    assert found.event_id == f"reconcile:{paid_one.provider_checkout_id}" and found.charge_ref.startswith("pi_")
    await provider.close(paid_ref)  # already complete: nothing to close, and no error
    await provider.close(ref)
    assert fake.sessions[open_one.provider_checkout_id or ""]["status"] == "expired"
    await provider.close(ref)  # already expired
    expired = await provider.query(ref)
    assert expired is not None and expired.outcome == ChargeOutcome.DECLINED


async def test_notices_by_event_type(provider: StripeCheckout, fake: FakeStripe) -> None:
    checkout = await provider.create_checkout(checkout_request())
    session = dict(fake.sessions[checkout.provider_checkout_id or ""])

    async def parsed(kind: str, **changes: Any) -> ChargeOutcome:
        headers, body = fake.signed(fake.event(kind, session | changes))
        event = await provider.parse_notice(headers, body)
        assert event.provider == "stripe"
        return event.outcome

    paid = {"payment_status": "paid", "status": "complete", "payment_intent": "pi_1"}
    assert await parsed("checkout.session.completed", **paid) == ChargeOutcome.SUCCEEDED
    assert await parsed("checkout.session.completed", status="complete") == ChargeOutcome.PENDING  # a bank debit
    assert await parsed("checkout.session.async_payment_succeeded", **paid) == ChargeOutcome.SUCCEEDED
    assert await parsed("checkout.session.async_payment_failed", payment_intent="pi_1") == ChargeOutcome.DECLINED
    assert await parsed("checkout.session.expired", status="expired") == ChargeOutcome.DECLINED
    assert await parsed("customer.created") == ChargeOutcome.UNKNOWN

    headers, body = fake.signed(fake.event("checkout.session.completed", session | paid))
    for bad_headers, bad_body in [
        ({}, body),
        (headers, body.replace(b"1250", b"1")),
        (fake.signed(fake.event("x", session), secret="whsec_other")[0], body),
        (fake.signed(fake.event("x", session), timestamp=int(time.time()) - 301)[0], body),
    ]:
        with pytest.raises(InvalidNotice):
            await provider.parse_notice(bad_headers, bad_body)


# -- daifu running for real ------------------------------------------------------------------------------


@asynccontextmanager
async def stripe_shop(database_url: str, port: int, **settings: Any) -> AsyncIterator[tuple[RunningShop, FakeStripe]]:
    notify_url = f"http://127.0.0.1:{port}/notify/stripe"
    async with (
        FakeStripe(API_KEY, WEBHOOK_SECRET, notify_url=notify_url, avoid_port=port) as fake,
        running_shop(
            database_url,
            port,
            payment_providers=["sandbox", "stripe"],
            stripe_api_key=API_KEY,
            stripe_webhook_secret=WEBHOOK_SECRET,
            stripe_api_base=fake.url,
            **settings,
        ) as shop,
    ):
        yield shop, fake


@pytest.fixture
async def shop_and_stripe(database_url: str, unused_tcp_port: int) -> AsyncIterator[tuple[RunningShop, FakeStripe]]:
    async with stripe_shop(database_url, unused_tcp_port) as both:
        yield both


async def open_stripe_checkout(shop: RunningShop, token: str) -> str:
    """Alice opens the order and taps Stripe; returns the URL of the checkout page she is given."""
    await shop.emu.open_link(shop.alice, f"https://t.me/{BOT_USERNAME}?start={token}")
    card = await shop.emu.next_bot_message(shop.alice)
    await shop.emu.click(shop.alice, card, "Pay by card on Stripe ($12.50)")
    return str(await shop.emu.click(shop.alice, await shop.told(shop.alice, "Open the checkout page"), "Open"))


def session_id(page_url: str) -> str:
    return page_url.rsplit("/", 1)[1]


async def order_and_charges(shop: RunningShop, token: str) -> tuple[Order, list[Payment]]:
    async with shop.daifu.db.transaction() as session:
        order = (await session.exec(select(Order).where(Order.token == token))).one()
        charges = (await session.exec(select(Payment).where(col(Payment.provider_ref).is_not(None)))).all()
    return order, list(charges)


async def stored_notices(shop: RunningShop) -> list[ProviderNotice]:
    async with shop.daifu.db.transaction() as session:
        statement = select(ProviderNotice).where(ProviderNotice.provider == "stripe").order_by(col(ProviderNotice.id))
        return list((await session.exec(statement)).all())


async def test_pay_on_stripe_then_the_admin_refunds(shop_and_stripe: tuple[RunningShop, FakeStripe]) -> None:
    shop, fake = shop_and_stripe
    token = await shop.new_link("/newlink 12.50 USD Coffee beans")
    await shop.emu.open_link(shop.alice, f"https://t.me/{BOT_USERNAME}?start={token}")
    card = await shop.emu.next_bot_message(shop.alice)
    labels = [[button["text"] for button in row] for row in card["reply_markup"]["inline_keyboard"]]
    assert labels[:2] == [["Pay on the sandbox page ($12.50)"], ["Pay by card on Stripe ($12.50)"]]

    page_url = await open_stripe_checkout(shop, token)
    assert page_url.startswith(f"{fake.url}/c/pay/cs_test_")
    status, page = await shop.get(page_url)
    assert status == 200 and "1250 usd" in page
    session = fake.sessions[session_id(page_url)]
    # Stripe sends the payer back to their receipt, whether they paid or left.
    assert session["success_url"] == session["cancel_url"] and session["amount_total"] == 1250
    assert session["success_url"].startswith(f"{shop.web_url}/receipt/")
    status, page = await shop.get(session["success_url"])
    assert status == 200 and "Waiting for the payment" in page

    await fake.pay(session_id(page_url))
    receipt = await shop.told(shop.alice, "Payment received")
    assert "$12.50" in receipt["text"] and session["payment_intent"] in receipt["text"]
    status, page = await shop.get(session["success_url"])
    assert "Payment accepted" in page and session["payment_intent"] in page and "$12.50" in page
    note = await shop.told(shop.admin, "Alice paid $12.50")
    assert "via stripe" in note["text"]
    assert fake.deliveries == [("checkout.session.completed", 200)]

    await shop.emu.click(shop.admin, note, "Refund")
    await shop.emu.wait_for(lambda: "Yes, refund" in str(shop.emu.chat_messages(shop.admin)[-1].get("reply_markup")))
    await shop.emu.click(shop.admin, note, "Yes, refund")
    told = await shop.told(shop.alice, "has been refunded")
    assert "$12.50" in told["text"]
    [refund] = fake.refunds
    assert refund["payment_intent"] == session["payment_intent"] and refund["amount"] == 1250
    order, [charge] = await order_and_charges(shop, token)
    assert order.status == OrderStatus.REFUNDED and charge.status == PaymentStatus.REFUNDED


async def test_a_lost_webhook_is_found_by_reconciliation(database_url: str, unused_tcp_port: int) -> None:
    async with stripe_shop(database_url, unused_tcp_port, reconcile_after=1) as (shop, fake):
        token = await shop.new_link("/newlink 12.50 USD Coffee beans")
        page_url = await open_stripe_checkout(shop, token)
        await fake.pay(session_id(page_url), notify=False)  # Stripe's webhook never arrives
        await asyncio.sleep(1.1)  # the attempt is now older than reconcile_after

        assert shop.runtime is not None
        application = shop.runtime.application
        assert application.job_queue is not None
        housekeeping = next(job for job in application.job_queue.jobs() if job.name == "housekeeping")
        await housekeeping.run(application)
        await shop.told(shop.alice, "Payment received")
        await shop.told(shop.admin, "Alice paid $12.50")
        await housekeeping.run(application)  # asked again: nothing more happens
        order, [charge] = await order_and_charges(shop, token)
        assert order.status == OrderStatus.PAID
        assert charge.provider_ref == fake.sessions[session_id(page_url)]["payment_intent"]
        assert shop.times_told(shop.alice, "Payment received") == 1 and fake.deliveries == []


async def test_forged_stale_and_tampered_notices_credit_nothing(
    shop_and_stripe: tuple[RunningShop, FakeStripe],
) -> None:
    shop, fake = shop_and_stripe
    token = await shop.new_link("/newlink 12.50 USD Coffee beans")
    page_url = await open_stripe_checkout(shop, token)
    event = await fake.pay(session_id(page_url), notify=False)
    headers, body = fake.signed(event)

    assert await fake.send_event(event, secret="whsec_guessed") == 400
    assert await fake.send_event(event, timestamp=int(time.time()) - 301) == 400  # past the 300 s tolerance
    assert await fake.send_event(event, headers=headers, body=body.replace(b"1250", b"125")) == 400
    assert await fake.send_event(event, headers={"Content-Type": "application/json"}) == 400  # unsigned

    order, charges = await order_and_charges(shop, token)
    assert order.status == OrderStatus.PENDING and charges == []
    assert await stored_notices(shop) == []  # only a notice that verifies is kept in full
    async with shop.daifu.db.transaction() as session:
        refused = (await session.exec(select(RejectedNotice).order_by(col(RejectedNotice.id)))).all()
    assert [(row.provider, row.size) for row in refused[:2]] == [("stripe", len(body))] * 2
    reasons = [row.reason.split(":")[0] for row in refused]
    assert reasons == ["signature"] * 3 + ["missing or malformed signature header"]


async def test_a_replayed_event_credits_once(shop_and_stripe: tuple[RunningShop, FakeStripe]) -> None:
    shop, fake = shop_and_stripe
    token = await shop.new_link("/newlink 12.50 USD Coffee beans")
    page_url = await open_stripe_checkout(shop, token)
    event = await fake.pay(session_id(page_url))
    for _again in range(2):  # Stripe delivers at least once: the same event, signed afresh
        assert await fake.send_event(event) == 200

    await shop.told(shop.alice, "Payment received")
    await shop.emu.send_text(shop.alice, "/help")  # handled after the notices' messages were queued
    await shop.emu.next_bot_message(shop.alice)
    assert shop.times_told(shop.alice, "Payment received") == 1 and shop.times_told(shop.admin, "Alice paid") == 1
    _order, charges = await order_and_charges(shop, token)
    assert len(charges) == 1
    assert [notice.event_id for notice in await stored_notices(shop)] == [event["id"]] * 3


async def test_a_charge_for_a_checkout_daifu_never_opened_is_kept_for_the_admins(
    shop_and_stripe: tuple[RunningShop, FakeStripe],
) -> None:
    shop, fake = shop_and_stripe
    await shop.emu.send_text(shop.admin, "/help")  # the admin's chat with the bot is open
    await shop.emu.next_bot_message(shop.admin)
    stranger = {
        "id": "cs_test_elsewhere",
        "object": "checkout.session",
        "amount_total": 500,
        "currency": "usd",
        "client_reference_id": "not-ours",
        "metadata": {"checkout_ref": "not-ours"},
        "payment_intent": "pi_elsewhere",
        "payment_status": "paid",
        "status": "complete",
    }
    completed = fake.event("checkout.session.completed", stranger)
    assert await fake.send_event(completed) == 200
    assert await fake.send_event(fake.event("charge.refunded", {"id": "ch_1", "object": "charge"})) == 200
    # Money moved for a checkout daifu never opened: kept and shown to the admins, never refunded unasked
    # (it may be another app's on the same Stripe account). The charge.refunded names nothing: ignored.
    assert [notice.status for notice in await stored_notices(shop)] == ["applied", "ignored"]
    told = await shop.told(shop.admin, "for a checkout the bot does not know")
    assert "$5.00 arrived via stripe" in told["text"] and "pi_elsewhere" in told["text"]
    assert "another app on the same account" in told["text"]
    assert await fake.send_event(completed) == 200  # delivered again: nothing new
    async with shop.daifu.db.transaction() as session:
        [orphan] = (await session.exec(select(OrphanCharge))).all()
    assert (orphan.charge_ref, orphan.status, orphan.amount_minor) == ("pi_elsewhere", "unclaimed", 500)
    assert shop.times_told(shop.admin, "for a checkout the bot does not know") == 1
    assert fake.refunds == []


@pytest.mark.parametrize("charged", [{"amount_total": 999}, {"currency": "eur"}])
async def test_a_charge_that_does_not_match_the_order_is_refunded(
    shop_and_stripe: tuple[RunningShop, FakeStripe], charged: dict[str, Any]
) -> None:
    shop, fake = shop_and_stripe
    token = await shop.new_link("/newlink 12.50 USD Coffee beans")
    page_url = await open_stripe_checkout(shop, token)
    event = await fake.pay(session_id(page_url), **charged)

    told = await shop.told(shop.alice, "did not match the order")
    assert "has been refunded" in told["text"]
    intent = fake.payment_intents[event["data"]["object"]["payment_intent"]]
    [refund] = fake.refunds
    # All of what was actually charged goes back, in the currency it was charged in.
    assert refund["payment_intent"] == intent["id"] and intent["amount_refunded"] == intent["amount"]
    order, [charge] = await order_and_charges(shop, token)
    assert order.status == OrderStatus.PENDING and not charge.credited and charge.status == PaymentStatus.REFUNDED


async def test_money_for_a_cancelled_order_goes_back(shop_and_stripe: tuple[RunningShop, FakeStripe]) -> None:
    shop, fake = shop_and_stripe
    token = await shop.new_link("/newlink 12.50 USD Coffee beans")
    page_url = await open_stripe_checkout(shop, token)
    order = await shop.daifu.orders.by_token(token)
    assert order is not None and order.id is not None

    await shop.daifu.closing.cancel(order.id, actor_id=shop.admin.id)
    assert fake.sessions[session_id(page_url)]["status"] == "expired"  # closed at Stripe too
    await fake.settle()
    assert fake.deliveries == [("checkout.session.expired", 200)]
    await fake.pay(session_id(page_url), even_if_closed=True)  # the payment was already under way

    told = await shop.told(shop.alice, "closed before your payment arrived")
    assert "$12.50 has been refunded" in told["text"]
    assert [refund["amount"] for refund in fake.refunds] == [1250]
    order, [charge] = await order_and_charges(shop, token)
    assert order.status == OrderStatus.CANCELLED and charge.status == PaymentStatus.REFUNDED


async def test_an_expiry_after_the_payment_changes_nothing(shop_and_stripe: tuple[RunningShop, FakeStripe]) -> None:
    shop, fake = shop_and_stripe
    token = await shop.new_link("/newlink 12.50 USD Coffee beans")
    page_url = await open_stripe_checkout(shop, token)
    paid = await fake.pay(session_id(page_url))
    await shop.told(shop.alice, "Payment received")

    late = fake.event("checkout.session.expired", paid["data"]["object"] | {"status": "expired"})
    assert await fake.send_event(late) == 200  # events arrive out of order

    order, [charge] = await order_and_charges(shop, token)
    assert order.status == OrderStatus.PAID and charge.status == PaymentStatus.SUCCEEDED and charge.credited
    assert fake.refunds == []
    assert [notice.status for notice in await stored_notices(shop)] == ["applied", "applied"]


async def test_an_expired_session_tells_the_shopper(shop_and_stripe: tuple[RunningShop, FakeStripe]) -> None:
    shop, fake = shop_and_stripe
    token = await shop.new_link("/newlink 12.50 USD Coffee beans")
    page_url = await open_stripe_checkout(shop, token)
    await fake.expire(session_id(page_url))

    told = await shop.told(shop.alice, "was declined")
    assert "not charged" in told["text"]
    order, charges = await order_and_charges(shop, token)
    assert order.status == OrderStatus.PENDING and charges == []


async def test_a_friend_pays_a_request_on_stripe_and_is_refunded(
    shop_and_stripe: tuple[RunningShop, FakeStripe],
) -> None:
    shop, fake = shop_and_stripe
    emu, alice, bob = shop.emu, shop.alice, shop.bob
    order_token = await shop.new_link("/newlink 12.50 USD Coffee beans")
    request_token = await ask_friend(shop, alice, order_token)

    offer = await open_request(shop, bob, request_token)
    assert "Alice asks you to pay $12.50" in offer["text"]
    await emu.click(bob, offer, "Stripe")
    page_url = await emu.click(bob, await shop.told(bob, "Open the checkout page"), "Open checkout page")
    session = fake.sessions[session_id(page_url)]
    assert session["success_url"].startswith(f"{shop.web_url}/receipt/")
    await fake.pay(session_id(page_url))
    _status, page = await shop.get(session["success_url"])
    assert 'data-testid="paid-for">Alice<' in page and f"/r/{request_token}" in page

    told_alice = await shop.told(alice, "paid for you")
    assert "Bob paid for you" in told_alice["text"]
    receipt = await shop.told(bob, "Payment received")
    assert "You paid for Alice" in receipt["text"]
    note = await shop.told(shop.admin, "Bob paid $12.50")
    await emu.click(shop.admin, note, "Refund")
    await emu.wait_for(lambda: "Yes, refund" in str(emu.chat_messages(shop.admin)[-1].get("reply_markup")))
    await emu.click(shop.admin, note, "Yes, refund")

    # The money goes back to the friend who paid, and both of them are told.
    told_bob = await shop.told(bob, "was refunded")
    assert "Your payment of $12.50 for Alice's Coffee beans was refunded" in told_bob["text"]
    assert "refunded to Bob" in (await shop.told(alice, "refunded to Bob"))["text"]
    [refund] = fake.refunds
    assert refund["payment_intent"] == session["payment_intent"] and refund["amount"] == 1250


async def test_a_refund_whose_worker_died_during_the_call_is_finished_once(
    shop_and_stripe: tuple[RunningShop, FakeStripe],
) -> None:
    shop, fake = shop_and_stripe
    token = await shop.new_link("/newlink 12.50 USD Coffee beans")
    await fake.pay(session_id(await open_stripe_checkout(shop, token)))
    await shop.told(shop.alice, "Payment received")
    _order, [charge] = await order_and_charges(shop, token)
    assert charge.id is not None

    # Stripe makes the refund, but its answer never reaches the worker: the worker dies waiting for it.
    fake.refund_answers_held = asyncio.Event()
    asking = asyncio.create_task(
        shop.daifu.refunds.refund(charge.id, reason=ReturnReason.SHOP_REFUND, actor_id=shop.admin.id)
    )
    await shop.emu.wait_for(lambda: len(fake.refunds) == 1)
    asking.cancel()  # what SIGKILL does to the call: no except clause runs, the refund stays pending
    with pytest.raises(asyncio.CancelledError):
        await asking
    fake.refund_answers_held.set()
    [pending] = await refunds_of(shop)
    assert pending.status == "pending"
    await shop.run_housekeeping()  # too soon: the call might still be under way
    assert (await refunds_of(shop))[0].status == "pending"

    async with shop.daifu.db.transaction() as session:  # two minutes later
        await session.exec(update(Refund).values(created_at=utcnow() - timedelta(minutes=3)))
    await shop.run_housekeeping()
    told = await shop.told(shop.alice, "Your payment of $12.50 has been refunded")
    assert "The shop refunded your payment" in told["text"]
    [done] = await refunds_of(shop)
    assert done.status == "done" and done.provider_refund_ref == fake.refunds[0]["id"]
    assert len(fake.refunds) == 1  # asked twice under one key: Stripe gave the money back once
    assert [r.idempotency_key for r in fake.requests if r.path == "/v1/refunds"] == ["daifu-refund-1"] * 2
    order, [refunded] = await order_and_charges(shop, token)
    assert order.status == OrderStatus.REFUNDED and refunded.status == PaymentStatus.REFUNDED

    await shop.run_housekeeping()
    assert shop.times_told(shop.alice, "has been refunded") == 1


async def refunds_of(shop: RunningShop) -> list[Refund]:
    async with shop.daifu.db.transaction() as session:
        return list((await session.exec(select(Refund).order_by(col(Refund.id)))).all())
