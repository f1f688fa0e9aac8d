"""Signed callbacks to the shop's backend: retried with backoff until accepted, across a restart, once each."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlmodel import col, select

from services.api_keys import NewKey
from services.callback_delivery import GAVE_UP, NEVER, deliver_due
from storage.models import CallbackDelivery, Payment, PaymentStatus, utcnow
from tests.api.client import ApiClient, pay_on_sandbox
from tests.api.shop_backend import Receiver
from tests.flows.payforme_steps import ask_friend
from tests.flows.test_chip_in_and_holds import chip_in
from tests.harness import RunningShop


# docs/shop-api.md's snippet, exactly (tests/test_docs.py checks): how a shop checks a callback.
def verify(secret: str, body: bytes, header: str, tolerance: int = 300) -> bool:
    """True only for a body signed with this secret in the last `tolerance` seconds; never raises."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        sent_at = int(fields["t"])
        given = fields["v1"].encode("ascii")  # compare_digest raises on non-ASCII text: compare bytes
    except (KeyError, ValueError):  # a malformed header is no signature
        return False
    expected = hmac.new(secret.encode(), f"{sent_at}.".encode() + body, hashlib.sha256).hexdigest().encode()
    return abs(time.time() - sent_at) <= tolerance and hmac.compare_digest(expected, given)


async def deliveries(shop: RunningShop) -> list[CallbackDelivery]:
    async with shop.daifu.db.transaction() as session:
        return list((await session.exec(select(CallbackDelivery).order_by(CallbackDelivery.id))).all())  # type: ignore[arg-type]


def pause_callback_job(shop: RunningShop) -> None:
    """Stop the bot's own delivery job, so the test alone decides when deliveries run (and with which clock)."""
    assert shop.runtime is not None and shop.runtime.application.job_queue is not None
    jobs = shop.runtime.application.job_queue.get_jobs_by_name("deliver_callbacks")
    assert jobs, "the callback job is registered"
    for job in jobs:
        job.enabled = False


@pytest.fixture(autouse=True)
def _no_callback_job(shop: RunningShop) -> None:
    pause_callback_job(shop)


def later(minutes: float) -> Callable[[], datetime]:
    """A clock this far ahead: retries fall due without waiting for them."""
    return lambda: utcnow() + timedelta(minutes=minutes)


async def test_a_callback_is_retried_until_accepted_across_a_restart(
    shop: RunningShop, api: ApiClient, acme_key: NewKey, receiver: Receiver
) -> None:
    receiver.failures = 2
    order = await api.new_order(callback_url=receiver.url, external_id="A-7")
    await api.post(f"/api/v1/orders/{order['id']}/cancel")

    first = await deliver_due(shop.daifu.db, private_allowed=shop.daifu.rules.callback_private_allowed, clock=later(1))
    assert (first.failed, len(receiver.received)) == (1, 1)
    [row] = await deliveries(shop)
    assert row.attempts == 1 and row.delivered_at is None and row.last_error == "HTTP 500: database is down"
    assert timedelta(seconds=29) < row.next_attempt_at - (utcnow() + timedelta(minutes=1)) <= timedelta(seconds=30)

    await shop.restart()  # everything is in the table: nothing is lost
    pause_callback_job(shop)
    assert (
        await deliver_due(shop.daifu.db, private_allowed=shop.daifu.rules.callback_private_allowed)
    ).failed == 0  # not due yet: the backoff holds
    second = await deliver_due(shop.daifu.db, private_allowed=shop.daifu.rules.callback_private_allowed, clock=later(2))
    third = await deliver_due(shop.daifu.db, private_allowed=shop.daifu.rules.callback_private_allowed, clock=later(4))
    assert (second.failed, third.delivered) == (1, 1)
    assert (
        await deliver_due(shop.daifu.db, private_allowed=shop.daifu.rules.callback_private_allowed, clock=later(600))
    ).delivered == 0  # delivered once, never again

    [row] = await deliveries(shop)
    assert row.attempts == 3 and row.delivered_at is not None and row.kind == "order.cancelled"
    assert len(receiver.received) == 3
    event_ids = {headers["Daifu-Event-Id"] for headers, _ in receiver.received}
    assert event_ids == {row.event_id}
    for headers, body in receiver.received:
        assert verify(acme_key.callback_secret, body, headers["Daifu-Signature"])
        assert not verify("whsec_someone-else", body, headers["Daifu-Signature"])
        # A forged header of any shape is a plain "no", never an exception in the shop's handler.
        for forged in ["", "t=1", "v1=ab", "t=x,v1=ab", "t=" + headers["Daifu-Signature"][2:12] + ",v1=签名", "\x00"]:
            assert not verify(acme_key.callback_secret, body, forged)
        assert headers["Content-Type"] == "application/json"
    event = receiver.events()[0]
    assert event["id"] == row.event_id and event["type"] == "order.cancelled"
    assert event["order"]["id"] == order["id"] and event["order"]["external_id"] == "A-7"
    assert event["order"]["status"] == "cancelled"


async def test_payments_and_refunds_are_called_back_in_order(
    shop: RunningShop, api: ApiClient, acme_key: NewKey, receiver: Receiver
) -> None:
    order = await api.new_order(callback_url=receiver.url)
    await pay_on_sandbox(shop, order)
    await api.post(f"/api/v1/orders/{order['id']}/refunds", json={"amount_minor": 250})
    await api.post(f"/api/v1/orders/{order['id']}/refunds")

    await deliver_due(shop.daifu.db, private_allowed=shop.daifu.rules.callback_private_allowed, clock=later(1))

    events = receiver.events()
    assert [event["type"] for event in events] == ["order.paid", "order.refunded", "order.refunded"]
    assert len({event["id"] for event in events}) == 3
    assert events[0]["order"]["status"] == "paid"
    assert events[1]["order"]["status"] == "paid"  # a part refund: the order stays paid
    assert events[1]["amounts"]["refunded"] == [{"amount_minor": 250, "currency": "USD"}]
    assert events[2]["order"]["status"] == "refunded"
    assert all(verify(acme_key.callback_secret, body, h["Daifu-Signature"]) for h, body in receiver.received)


async def test_the_paid_callback_says_what_was_paid_and_by_whom(
    shop: RunningShop, api: ApiClient, receiver: Receiver
) -> None:
    order = await api.new_order(callback_url=receiver.url)
    await pay_on_sandbox(shop, order)
    await deliver_due(shop.daifu.db, private_allowed=shop.daifu.rules.callback_private_allowed, clock=later(1))

    [paid] = receiver.events()
    assert paid["amounts"]["paid"] == [{"amount_minor": 1250, "currency": "USD"}]
    assert paid["payer_kind"] == "shopper"


async def test_orders_without_a_callback_url_call_nobody(shop: RunningShop, api: ApiClient) -> None:
    order = await api.new_order()
    await api.post(f"/api/v1/orders/{order['id']}/cancel")
    assert await deliveries(shop) == []


async def test_after_a_day_of_failures_delivery_gives_up_visibly(
    shop: RunningShop, api: ApiClient, receiver: Receiver
) -> None:
    receiver.failures = 1000
    order = await api.new_order(callback_url=receiver.url)
    await api.post(f"/api/v1/orders/{order['id']}/cancel")
    await deliver_due(shop.daifu.db, private_allowed=shop.daifu.rules.callback_private_allowed, clock=later(1))

    run = await deliver_due(
        shop.daifu.db, private_allowed=shop.daifu.rules.callback_private_allowed, clock=later(24 * 60 + 1)
    )

    assert run.gave_up == 1
    [row] = await deliveries(shop)
    assert row.last_error is not None and row.last_error.startswith(GAVE_UP) and "HTTP 500" in row.last_error
    assert row.next_attempt_at == NEVER and row.delivered_at is None
    assert (
        await deliver_due(
            shop.daifu.db, private_allowed=shop.daifu.rules.callback_private_allowed, clock=later(48 * 60)
        )
    ).failed == 0
    assert len(receiver.received) == 2


async def test_unreachable_shops_are_retried_with_growing_waits(
    shop: RunningShop, api: ApiClient, unused_tcp_port_factory: Callable[[], int]
) -> None:
    nowhere = f"http://127.0.0.1:{unused_tcp_port_factory()}/daifu"
    order = await api.new_order(callback_url=nowhere)
    await api.post(f"/api/v1/orders/{order['id']}/cancel")

    waits = []
    for step in range(1, 10):
        now = utcnow() + timedelta(hours=step)
        assert (
            await deliver_due(
                shop.daifu.db, private_allowed=shop.daifu.rules.callback_private_allowed, clock=lambda now=now: now
            )
        ).failed == 1  # type: ignore[misc]
        [row] = await deliveries(shop)
        waits.append(round((row.next_attempt_at - now).total_seconds()))
    assert waits == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert row.attempts == 9 and row.last_error is not None and "Connect" in row.last_error


async def test_the_bots_periodic_job_delivers_callbacks(shop: RunningShop, api: ApiClient, receiver: Receiver) -> None:
    order = await api.new_order(callback_url=receiver.url)
    await api.post(f"/api/v1/orders/{order['id']}/cancel")
    assert shop.runtime is not None and shop.runtime.application.job_queue is not None
    [job] = shop.runtime.application.job_queue.get_jobs_by_name("deliver_callbacks")

    await job.run(shop.runtime.application)  # what the job queue does every 30 s

    assert [event["type"] for event in receiver.events()] == ["order.cancelled"]
    [row] = await deliveries(shop)
    assert row.delivered_at is not None


async def test_chip_ins_given_back_from_an_order_never_paid_call_the_shop_about_nothing(
    shop: RunningShop, api: ApiClient, receiver: Receiver
) -> None:
    order = await api.new_order(callback_url=receiver.url, amount_minor=9000)
    request = await ask_friend(shop, shop.alice, order["token"], shares=3)
    await chip_in(shop, shop.bob, request, "30")
    await shop.told(shop.alice, "Bob chipped in")

    await shop.daifu.request_closing.cancel(request, shop.alice.id)  # Bob's $30.00 goes back to him
    async with shop.daifu.db.transaction() as session:
        given_back = (await session.exec(select(Payment.status).where(col(Payment.provider_ref).is_not(None)))).all()
    assert given_back == [PaymentStatus.REFUNDED]
    await deliver_due(shop.daifu.db, private_allowed=shop.daifu.rules.callback_private_allowed, clock=later(1))

    assert [row.kind for row in await deliveries(shop)] == []  # the shop never heard it was paid
    assert receiver.received == []
