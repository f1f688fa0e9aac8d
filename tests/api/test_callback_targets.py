"""Callbacks go only to public addresses (no SSRF): refused when the order is made if the URL spells a private
address, refused at delivery if a host name resolves to one; CALLBACK_ALLOW_PRIVATE_ADDRESSES lets them through."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp import web
from sqlmodel import func, select

from services.callback_delivery import deliver_due
from storage.models import Order, utcnow
from tests.api.client import ApiClient
from tests.api.shop_backend import Receiver
from tests.api.test_callbacks import deliveries, later, pause_callback_job
from tests.harness import RunningShop, running_shop
from tests.ports import served

COFFEE = {"amount_minor": 1250, "currency": "USD", "title": "Coffee"}
PRIVATE_ALLOWED = pytest.mark.parametrize("shop", [True], indirect=True, ids=["private-allowed"])


@pytest.fixture
async def shop(request: pytest.FixtureRequest, database_url: str, unused_tcp_port: int) -> AsyncIterator[RunningShop]:
    """daifu as shipped (private callback targets refused), or with them allowed under PRIVATE_ALLOWED."""
    allowed = bool(getattr(request, "param", False))
    async with running_shop(database_url, unused_tcp_port, callback_allow_private_addresses=allowed) as running:
        pause_callback_job(running)  # the test alone decides when deliveries run
        yield running


def by_name(receiver: Receiver) -> str:
    """The receiver's URL with the host name `localhost` (which resolves to loopback) instead of 127.0.0.1."""
    return receiver.url.replace("127.0.0.1", "localhost")


async def orders_in_database(shop: RunningShop) -> int:
    async with shop.daifu.db.transaction() as session:
        return int((await session.exec(select(func.count()).select_from(Order))).one())


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("http://127.0.0.1/daifu", "127.0.0.1 (loopback)"),
        ("http://127.0.0.1:8080/daifu", "127.0.0.1 (loopback)"),
        ("http://[::1]/", "::1 (loopback)"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254 (link-local)"),
        ("http://10.0.0.5/", "10.0.0.5 (private)"),
        ("https://172.16.3.4:8443/hook", "172.16.3.4 (private)"),
        ("http://192.168.1.10/", "192.168.1.10 (private)"),
        ("http://0.0.0.0/", "0.0.0.0 (unspecified)"),
        ("http://224.0.0.1/", "224.0.0.1 (multicast)"),
        ("http://100.64.0.1/", "100.64.0.1 (not globally routable)"),
        ("http://[fc00::1]/", "fc00::1 (private)"),
        ("http://[fe80::1]/", "fe80::1 (link-local)"),
        ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1 (loopback)"),
        ("http://[64:ff9b::a9fe:a9fe]/", "64:ff9b::a9fe:a9fe (link-local)"),  # 169.254.169.254 through NAT64
        ("http://127.1/", "127.1 (loopback)"),  # legacy spellings that the C library reads as 127.0.0.1
        ("http://2130706433/", "2130706433 (loopback)"),
    ],
)
async def test_callback_urls_spelling_a_non_public_address_are_refused(
    shop: RunningShop, api: ApiClient, url: str, refused: str
) -> None:
    status, answer = await api.create(COFFEE | {"callback_url": url})

    assert status == 400, answer
    assert answer["error"] == {
        "code": "bad_request",
        "message": f"callback_url must point to a public address, not {refused}",
    }
    assert await orders_in_database(shop) == 0


async def test_callback_urls_with_a_user_name_or_password_are_refused(shop: RunningShop, api: ApiClient) -> None:
    for url in ["http://user:pw@example.com/", "https://token@shop.example/daifu", "https://@shop.example/"]:
        status, answer = await api.create(COFFEE | {"callback_url": url})
        assert status == 400, (url, answer)
        assert answer["error"] == {
            "code": "bad_request",
            "message": "callback_url must not carry a user name or password (user:password@)",
        }
    assert await orders_in_database(shop) == 0


async def test_host_names_and_public_addresses_are_taken_when_the_order_is_made(api: ApiClient) -> None:
    for url in [
        "https://shop.example/daifu?user=a@b",  # an @ after the host is no password
        "http://localhost:8080/daifu",  # a name: what it resolves to is checked at each delivery
        "http://93.184.216.34/daifu",
        "http://[2606:4700:4700::1111]/daifu",
        "http://172.32.0.1/daifu",  # just past 172.16.0.0/12
    ]:
        order = await api.new_order(callback_url=url)
        assert order["callback_url"] == url


@PRIVATE_ALLOWED
async def test_with_private_addresses_allowed_such_urls_are_taken(api: ApiClient) -> None:
    for url in ["http://127.0.0.1:8080/daifu", "http://10.0.0.5/", "http://[::1]/"]:
        order = await api.new_order(callback_url=url)
        assert order["callback_url"] == url
    status, answer = await api.create(COFFEE | {"callback_url": "http://user:pw@10.0.0.5/"})
    assert status == 400 and "user name or password" in answer["error"]["message"]


async def test_a_host_name_that_resolves_to_loopback_is_refused_at_delivery_and_retried(
    shop: RunningShop, api: ApiClient, receiver: Receiver
) -> None:
    order = await api.new_order(callback_url=by_name(receiver))
    await api.post(f"/api/v1/orders/{order['id']}/cancel")

    now = utcnow() + timedelta(minutes=1)
    run = await deliver_due(shop.daifu.db, private_allowed=shop.daifu.rules.callback_private_allowed, clock=lambda: now)

    assert (run.delivered, run.failed) == (0, 1)
    assert receiver.received == []  # no connection was even tried
    [row] = await deliveries(shop)
    assert row.delivered_at is None and row.attempts == 1
    assert row.last_error is not None and row.last_error.startswith("refused: localhost resolves to no public address")
    assert "127.0.0.1" in row.last_error
    assert row.next_attempt_at - now == timedelta(seconds=30)  # the usual backoff

    again = await deliver_due(shop.daifu.db, private_allowed=shop.daifu.rules.callback_private_allowed, clock=later(2))
    assert again.failed == 1 and receiver.received == []
    [row] = await deliveries(shop)
    assert row.attempts == 2 and row.next_attempt_at - utcnow() > timedelta(seconds=60)


@PRIVATE_ALLOWED
async def test_with_private_addresses_allowed_the_same_callback_arrives(
    shop: RunningShop, api: ApiClient, receiver: Receiver
) -> None:
    order = await api.new_order(callback_url=by_name(receiver))
    await api.post(f"/api/v1/orders/{order['id']}/cancel")

    run = await deliver_due(shop.daifu.db, private_allowed=shop.daifu.rules.callback_private_allowed, clock=later(1))

    assert (run.delivered, run.failed) == (1, 0)
    assert [event["type"] for event in receiver.events()] == ["order.cancelled"]
    [row] = await deliveries(shop)
    assert row.delivered_at is not None and row.last_error is None


@PRIVATE_ALLOWED
async def test_an_address_taken_while_allowed_is_refused_by_the_periodic_job_once_it_is_not(
    shop: RunningShop, api: ApiClient, receiver: Receiver
) -> None:
    order = await api.new_order(callback_url=receiver.url)  # http://127.0.0.1:<port>/daifu
    await api.post(f"/api/v1/orders/{order['id']}/cancel")
    shop.settings = shop.settings.model_copy(update={"callback_allow_private_addresses": False})
    await shop.restart()
    pause_callback_job(shop)
    assert shop.runtime is not None
    [job] = shop.runtime.application.job_queue.get_jobs_by_name("deliver_callbacks")  # type: ignore[union-attr]

    await job.run(shop.runtime.application)  # the bot's own job, as it runs every 30 s

    assert receiver.received == []
    [row] = await deliveries(shop)
    assert row.delivered_at is None and row.attempts == 1
    assert row.last_error == "refused: 127.0.0.1 is not a public address (loopback)"


@PRIVATE_ALLOWED
async def test_a_redirect_is_not_followed(shop: RunningShop, api: ApiClient, receiver: Receiver) -> None:
    """A shop's answer cannot send daifu elsewhere (such as into daifu's own network): a 3xx is a failure."""

    async def to_metadata(_: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect("http://169.254.169.254/latest/meta-data")

    async def to_receiver(_: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(receiver.url)

    app = web.Application()
    app.router.add_post("/moved", to_metadata)
    app.router.add_post("/elsewhere", to_receiver)
    async with served(app) as base:
        for path in ["/moved", "/elsewhere"]:
            order = await api.new_order(callback_url=f"{base}{path}")
            await api.post(f"/api/v1/orders/{order['id']}/cancel")

        run = await deliver_due(
            shop.daifu.db, private_allowed=shop.daifu.rules.callback_private_allowed, clock=later(1)
        )

    assert (run.delivered, run.failed) == (0, 2)
    assert receiver.received == []
    assert all((row.last_error or "").startswith("HTTP 307") for row in await deliveries(shop))
