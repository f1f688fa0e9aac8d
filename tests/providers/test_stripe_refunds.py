"""Stripe refunds are done when Stripe says so, against the fake Stripe behaving as Stripe documents.

A refund answered pending or requires_action is recorded as pending and followed (by Stripe's refund events
or by asking) until it succeeds or fails; the payer hears "refunded" only when it succeeded, the admins hear
of a failure with its reason. The amount recorded is what Stripe gave back. A refund resumed after Stripe
forgot its idempotency key asks Stripe what became of it before sending anything again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlmodel import update

from payments.base import Amount, ChargeOutcome, RefundRequest, RefundStatus
from payments.stripe_checkout import StripeCheckout
from services.notices import ReturnReason
from storage.models import OrderStatus, PaymentStatus, Refund, utcnow
from tests.harness import RunningShop
from tests.providers.fake_stripe import FakeStripe
from tests.providers.test_stripe import (
    USD_1250,
    checkout_request,
    open_stripe_checkout,
    order_and_charges,
    refunds_of,
    session_id,
    stripe_shop,
)

# -- the adapter on its own ------------------------------------------------------------------------------


async def paid_intent(provider: StripeCheckout, fake: FakeStripe) -> str:
    checkout = await provider.create_checkout(checkout_request())
    event = await fake.pay(checkout.provider_checkout_id or "", notify=False)
    return str(event["data"]["object"]["payment_intent"])


@pytest.mark.parametrize(
    ("answered", "status"),
    [
        ("succeeded", RefundStatus.SUCCEEDED),
        ("pending", RefundStatus.PENDING),
        ("requires_action", RefundStatus.PENDING),
        ("failed", RefundStatus.FAILED),
    ],
)
async def test_a_refund_is_as_done_as_stripe_says(
    provider: StripeCheckout, fake: FakeStripe, answered: str, status: RefundStatus
) -> None:
    intent = await paid_intent(provider, fake)
    fake.refund_status = answered
    refund = await provider.refund(RefundRequest(intent, Amount(250, "USD"), USD_1250, refund_key="daifu-refund-7"))
    assert refund.status == status and refund.amount == Amount(250, "USD")
    assert refund.refund_ref == fake.refunds[0]["id"] and refund.refund_key == "daifu-refund-7"
    assert (refund.failure == "expired_or_canceled_card") == (answered == "failed")


async def test_a_whole_refund_after_a_dashboard_refund_gives_back_what_was_left(
    provider: StripeCheckout, fake: FakeStripe
) -> None:
    intent = await paid_intent(provider, fake)
    fake.dashboard_refund(intent, 250)
    refund = await provider.refund(RefundRequest(intent, USD_1250, USD_1250, refund_key="daifu-refund-1"))
    assert refund.amount == Amount(1000, "USD") and refund.status == RefundStatus.SUCCEEDED
    assert "amount" not in fake.requests[-1].params  # all that is left: Stripe works out how much that is


async def test_a_refund_is_found_by_its_key_once_stripe_forgot_the_key(
    provider: StripeCheckout, fake: FakeStripe
) -> None:
    intent = await paid_intent(provider, fake)
    asked = RefundRequest(intent, Amount(300, "USD"), USD_1250, refund_key="daifu-refund-3")
    fake.dashboard_refund(intent, 100)
    assert await provider.query_refund(asked, None) is None  # nothing under this key yet
    fake.refund_status = "pending"
    made = await provider.refund(asked)
    fake.idempotency_window = 0  # a day later: the same key would now make a second refund
    await fake.finish_refund(made.refund_ref, notify=False)
    found = await provider.query_refund(asked, None)
    assert found is not None and found.refund_ref == made.refund_ref and found.status == RefundStatus.SUCCEEDED
    assert fake.requests[-1].method == "GET" and fake.requests[-1].params["payment_intent"] == intent
    by_id = await provider.query_refund(asked, made.refund_ref)
    assert by_id == found


async def test_refund_events_are_parsed_into_refund_outcomes(provider: StripeCheckout, fake: FakeStripe) -> None:
    intent = await paid_intent(provider, fake)
    fake.refund_status = "pending"
    made = await provider.refund(RefundRequest(intent, USD_1250, USD_1250, refund_key="daifu-refund-9"))
    for kind in ("refund.updated", "refund.failed", "charge.refund.updated"):
        event = await fake.finish_refund(made.refund_ref, "failed", failure_reason="lost_or_stolen_card", notify=False)
        event["type"] = kind
        parsed = await provider.parse_notice(*fake.signed(event))
        assert parsed.outcome == ChargeOutcome.REFUNDED and parsed.charge_ref == intent
        assert parsed.extra["refund_key"] == "daifu-refund-9" and parsed.extra["refund_status"] == "failed"
        assert parsed.extra["failure"] == "lost_or_stolen_card" and parsed.amount == USD_1250


# -- daifu running for real ------------------------------------------------------------------------------


@pytest.fixture
async def shop_and_stripe(database_url: str, unused_tcp_port: int) -> AsyncIterator[tuple[RunningShop, FakeStripe]]:
    async with stripe_shop(database_url, unused_tcp_port) as both:
        yield both


async def paid_order(shop: RunningShop, fake: FakeStripe) -> tuple[str, int]:
    """Alice pays a $12.50 order on Stripe; returns its token and her charge's id."""
    token = await shop.new_link("/newlink 12.50 USD Coffee beans")
    await fake.pay(session_id(await open_stripe_checkout(shop, token)))
    await shop.told(shop.alice, "Payment received")
    _order, [charge] = await order_and_charges(shop, token)
    assert charge.id is not None
    return token, charge.id


async def minutes_pass(shop: RunningShop, minutes: int = 3) -> None:
    async with shop.daifu.db.transaction() as session:
        await session.exec(update(Refund).values(created_at=utcnow() - timedelta(minutes=minutes), leased_until=None))


@pytest.mark.parametrize("answered", ["pending", "requires_action"])
async def test_a_pending_refund_is_told_to_the_payer_only_when_stripe_says_it_succeeded(
    shop_and_stripe: tuple[RunningShop, FakeStripe], answered: str
) -> None:
    shop, fake = shop_and_stripe
    token, _charge = await paid_order(shop, fake)
    fake.refund_status = answered
    await shop.daifu.refunds.refund(_charge, reason=ReturnReason.SHOP_REFUND, actor_id=shop.admin.id)
    [pending] = await refunds_of(shop)
    assert pending.status == "pending" and pending.provider_refund_ref == fake.refunds[0]["id"]
    order, [charge] = await order_and_charges(shop, token)
    assert order.status == OrderStatus.PAID and charge.status == PaymentStatus.SUCCEEDED

    await shop.run_housekeeping()  # asked again too soon: still pending, nothing told
    assert shop.times_told(shop.alice, "has been refunded") == 0

    event = await fake.finish_refund(fake.refunds[0]["id"])  # Stripe finishes it: refund.updated
    told = await shop.told(shop.alice, "Your payment of $12.50 has been refunded")
    assert "The shop refunded your payment" in told["text"]
    await shop.told(shop.admin, "↩️ Refunded $12.50 for order #")
    assert await fake.send_event(event) == 200  # delivered again: nothing changes, nobody is told twice
    await minutes_pass(shop)
    await shop.run_housekeeping()
    [done] = await refunds_of(shop)
    assert done.status == "done" and done.amount_minor == 1250
    order, [charge] = await order_and_charges(shop, token)
    assert order.status == OrderStatus.REFUNDED and charge.status == PaymentStatus.REFUNDED
    assert shop.times_told(shop.alice, "has been refunded") == 1
    assert len(fake.refunds) == 1


async def test_a_refund_that_fails_later_is_told_to_the_admins_and_never_to_the_payer(
    shop_and_stripe: tuple[RunningShop, FakeStripe],
) -> None:
    shop, fake = shop_and_stripe
    token, charge_id = await paid_order(shop, fake)
    fake.refund_status = "pending"
    await shop.daifu.refunds.refund(charge_id, reason=ReturnReason.SHOP_REFUND, actor_id=shop.admin.id)

    await fake.finish_refund(fake.refunds[0]["id"], "failed", failure_reason="expired_or_canceled_card")
    failed = await shop.told(shop.admin, "failed at stripe")
    assert "$12.50" in failed["text"] and "expired_or_canceled_card" in failed["text"] and "order #" in failed["text"]
    [refund] = await refunds_of(shop)
    assert refund.status == "failed" and refund.error == "expired_or_canceled_card"
    order, [charge] = await order_and_charges(shop, token)
    # Nothing went back: the order stays paid and all of the charge can be refunded again.
    assert order.status == OrderStatus.PAID and charge.status == PaymentStatus.SUCCEEDED and charge.refunded_minor == 0
    await minutes_pass(shop)
    await shop.run_housekeeping()
    assert shop.times_told(shop.alice, "has been refunded") == 0
    assert shop.times_told(shop.admin, "failed at stripe") == 1

    fake.refund_status = "succeeded"
    again = await shop.daifu.refunds.refund(charge_id, reason=ReturnReason.SHOP_REFUND, actor_id=shop.admin.id)
    assert not again.pending and again.amount == Amount(1250, "USD")


async def test_a_pending_refund_whose_events_are_lost_is_asked_about(
    shop_and_stripe: tuple[RunningShop, FakeStripe],
) -> None:
    shop, fake = shop_and_stripe
    token, charge_id = await paid_order(shop, fake)
    fake.refund_status = "pending"
    await shop.daifu.refunds.refund(charge_id, reason=ReturnReason.SHOP_REFUND, actor_id=shop.admin.id)
    await fake.finish_refund(fake.refunds[0]["id"], notify=False)  # the webhook never arrives

    await minutes_pass(shop)
    await shop.run_housekeeping()
    await shop.told(shop.alice, "Your payment of $12.50 has been refunded")
    refund_id = fake.refunds[0]["id"]
    assert [(r.method, r.path) for r in fake.requests if r.path.startswith("/v1/refunds")] == [
        ("POST", "/v1/refunds"),
        ("GET", f"/v1/refunds/{refund_id}"),
    ]
    order, [charge] = await order_and_charges(shop, token)
    assert order.status == OrderStatus.REFUNDED and charge.status == PaymentStatus.REFUNDED


async def test_the_amount_recorded_is_what_stripe_gave_back(shop_and_stripe: tuple[RunningShop, FakeStripe]) -> None:
    shop, fake = shop_and_stripe
    token, charge_id = await paid_order(shop, fake)
    _order, [charge] = await order_and_charges(shop, token)
    assert charge.provider_ref is not None
    fake.dashboard_refund(charge.provider_ref, 250)  # $2.50 refunded in Stripe's Dashboard, outside daifu

    returned = await shop.daifu.refunds.refund(charge_id, reason=ReturnReason.SHOP_REFUND, actor_id=shop.admin.id)
    assert returned.amount == Amount(1000, "USD")
    [refund] = await refunds_of(shop)
    assert (refund.amount_minor, refund.asked_minor, refund.status) == (1000, 1250, "done")
    order, [refunded] = await order_and_charges(shop, token)
    assert order.status == OrderStatus.REFUNDED and refunded.status == PaymentStatus.REFUNDED


async def test_a_refund_resumed_after_stripe_forgot_its_key_asks_before_sending_again(
    shop_and_stripe: tuple[RunningShop, FakeStripe],
) -> None:
    shop, fake = shop_and_stripe
    token, charge_id = await paid_order(shop, fake)
    # Stripe makes the refund, but its answer never reaches the worker, which dies waiting for it.
    fake.refund_answers_held = asyncio.Event()
    asking = asyncio.create_task(
        shop.daifu.refunds.refund(charge_id, reason=ReturnReason.SHOP_REFUND, actor_id=shop.admin.id)
    )
    await shop.emu.wait_for(lambda: len(fake.refunds) == 1)
    asking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asking
    fake.refund_answers_held.set()

    # A day passes before the job runs again (the bot was down): Stripe has forgotten the idempotency key.
    fake.idempotency_window = 0
    await minutes_pass(shop, minutes=25 * 60)
    await shop.run_housekeeping()
    await shop.told(shop.alice, "Your payment of $12.50 has been refunded")
    assert len(fake.refunds) == 1  # found under its key, not made a second time
    assert [r.method for r in fake.requests if r.path == "/v1/refunds"] == ["POST", "GET"]
    [done] = await refunds_of(shop)
    assert done.status == "done" and done.provider_refund_ref == fake.refunds[0]["id"]
    order, [charge] = await order_and_charges(shop, token)
    assert order.status == OrderStatus.REFUNDED and charge.status == PaymentStatus.REFUNDED


async def test_a_pending_refund_asked_for_by_the_admin_says_so(shop_and_stripe: tuple[RunningShop, FakeStripe]) -> None:
    shop, fake = shop_and_stripe
    token, _charge = await paid_order(shop, fake)
    fake.refund_status = "pending"
    note = await shop.told(shop.admin, "Alice paid $12.50")
    await shop.emu.click(shop.admin, note, "Refund")
    await shop.emu.wait_for(lambda: "Yes, refund" in str(shop.emu.chat_messages(shop.admin)[-1].get("reply_markup")))
    await shop.emu.click(shop.admin, note, "Yes, refund")
    told = await shop.told(shop.admin, "pending at stripe")
    assert "$12.50" in told["text"] and "for order #" in told["text"] and token not in told["text"]
    assert shop.times_told(shop.alice, "has been refunded") == 0


async def test_order_shows_the_payment_intent_and_the_refund_at_stripe(
    shop_and_stripe: tuple[RunningShop, FakeStripe],
) -> None:
    shop, fake = shop_and_stripe
    token, charge_id = await paid_order(shop, fake)
    fake.refund_status = "pending"
    await shop.daifu.refunds.refund(charge_id, reason=ReturnReason.SHOP_REFUND, actor_id=shop.admin.id)
    _order, [charge] = await order_and_charges(shop, token)

    sent = await shop.emu.send_text(shop.admin, f"/order {token}")
    dossier = await shop.told(shop.admin, "Payments", after=sent["message_id"])
    assert f"Provider charge id: {charge.provider_ref}" in dossier["text"]  # the PaymentIntent, pi_...
    assert f"Provider checkout id: {charge.provider_checkout_id}" in dossier["text"]  # the Checkout Session
    assert f"Provider refund id: {fake.refunds[0]['id']}" in dossier["text"]
    assert "in progress" in dossier["text"]


async def test_refund_events_for_refunds_daifu_never_made_change_nothing(
    shop_and_stripe: tuple[RunningShop, FakeStripe],
) -> None:
    shop, fake = shop_and_stripe
    token, _charge = await paid_order(shop, fake)
    _order, [charge] = await order_and_charges(shop, token)
    assert charge.provider_ref is not None
    made_outside = fake.dashboard_refund(charge.provider_ref, 250)
    assert await fake.send_event(fake.event("refund.updated", made_outside)) == 200
    forged_key = made_outside | {"id": "re_other", "metadata": {"refund_key": "daifu-refund-１"}}
    assert await fake.send_event(fake.event("refund.updated", forged_key)) == 200  # a key that is not daifu's
    odd = made_outside | {"id": "re_odd", "status": "something_new"}
    assert await fake.send_event(fake.event("charge.refund.updated", odd)) == 200
    order, [same] = await order_and_charges(shop, token)
    assert order.status == OrderStatus.PAID and same.refunded_minor == 0 and await refunds_of(shop) == []
    assert shop.times_told(shop.alice, "refunded") == 0
