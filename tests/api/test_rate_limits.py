"""Throttling on the web side: a flood from one address (or with one API key) gets 429 and Retry-After while
everyone else is served; X-Forwarded-For counts only from the proxies the shop named."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.api.client import ApiClient
from tests.harness import RunningShop, running_shop
from web.rate_limit import Rate, TokenBuckets

BURST = 5
FORM_BURST = 3
KEY_BURST = 8
# Refilled slowly: a test's whole flood takes far less than the ten seconds one token takes to come back.
SLOW = 0.1


def limits(**settings: Any) -> dict[str, Any]:
    return {
        "web_rate_per_address": SLOW,
        "web_burst_per_address": BURST,
        "web_form_rate_per_address": SLOW,
        "web_form_burst_per_address": FORM_BURST,
        "api_rate_per_key": SLOW,
        "api_burst_per_key": KEY_BURST,
    } | settings


@pytest.fixture
async def limited(database_url: str, unused_tcp_port: int) -> AsyncIterator[RunningShop]:
    async with running_shop(database_url, unused_tcp_port, **limits()) as shop:
        yield shop


@pytest.fixture
async def behind_proxy(database_url: str, unused_tcp_port: int) -> AsyncIterator[RunningShop]:
    """daifu behind a proxy on 127.0.0.1, which says who the client is in X-Forwarded-For."""
    async with running_shop(database_url, unused_tcp_port, **limits(trusted_proxies="127.0.0.1")) as shop:
        yield shop


class Browser:
    """A client on its own loopback address (Linux answers on all of 127.0.0.0/8)."""

    def __init__(self, shop: RunningShop, address: str = "127.0.0.1") -> None:
        self.shop = shop
        self.client = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0)))

    async def get(self, path: str, **headers: str) -> tuple[int, dict[str, str]]:
        async with self.client.get(self.shop.web_url + path, headers=headers) as answer:
            await answer.read()
            return answer.status, dict(answer.headers)

    async def post(self, path: str, **headers: str) -> int:
        async with self.client.post(self.shop.web_url + path, data={"x": "1"}, headers=headers) as answer:
            await answer.read()
            return answer.status

    async def close(self) -> None:
        await self.client.close()


@pytest.fixture
async def browsers() -> AsyncIterator[list[Browser]]:
    opened: list[Browser] = []
    yield opened
    for browser in opened:
        await browser.close()


def browser(opened: list[Browser], shop: RunningShop, address: str = "127.0.0.1") -> Browser:
    opened.append(Browser(shop, address))
    return opened[-1]


async def test_a_flood_from_one_address_is_refused_while_another_is_served(
    limited: RunningShop, browsers: list[Browser]
) -> None:
    flooder, other = browser(browsers, limited), browser(browsers, limited, "127.0.0.2")

    served = [(await flooder.get("/"))[0] for _ in range(BURST)]
    status, headers = await flooder.get("/")

    assert served == [200] * BURST
    assert status == 429 and 1 <= int(headers["Retry-After"]) <= 10
    assert (await flooder.get(f"/o/{'x' * 22}"))[0] == 429  # every page, not only the one flooded
    assert (await other.get("/"))[0] == 200
    # The liveness probe and Telegram's webhook are never throttled by address.
    assert (await flooder.get("/healthz"))[0] == 200
    assert 429 not in {await flooder.post(limited.settings.webhook_path) for _ in range(BURST * 2)}


async def test_form_posts_have_a_stricter_bucket(limited: RunningShop, browsers: list[Browser]) -> None:
    flooder = browser(browsers, limited)
    path = f"/r/r_{'x' * 22}"

    refused = [await flooder.post(path) for _ in range(FORM_BURST + 1)]

    assert refused[:FORM_BURST] == [404] * FORM_BURST and refused[-1] == 429
    assert (await flooder.post("/sandbox/checkout/nothing")) == 429
    assert (await flooder.get(path))[0] == 404  # reading the page still works: its bucket is the larger one


async def test_x_forwarded_for_is_ignored_from_an_untrusted_peer(limited: RunningShop, browsers: list[Browser]) -> None:
    flooder = browser(browsers, limited)

    answers = [(await flooder.get("/", **{"X-Forwarded-For": f"203.0.113.{n}"}))[0] for n in range(BURST + 1)]

    assert answers[-1] == 429  # a new claimed address each time changes nothing


async def test_x_forwarded_for_is_honoured_from_a_trusted_proxy(
    behind_proxy: RunningShop, browsers: list[Browser]
) -> None:
    proxy, stranger = browser(browsers, behind_proxy), browser(browsers, behind_proxy, "127.0.0.2")
    client = {"X-Forwarded-For": "203.0.113.7"}

    flood = [(await proxy.get("/", **client))[0] for _ in range(BURST + 1)]
    # What the client wrote left of its own address is its say-so: the right-most untrusted address counts.
    spoofed = await proxy.get("/", **{"X-Forwarded-For": "198.51.100.1, 203.0.113.7"})

    assert flood[:BURST] == [200] * BURST and flood[-1] == 429 and spoofed[0] == 429
    assert (await proxy.get("/", **{"X-Forwarded-For": "203.0.113.8"}))[0] == 200  # another client of the proxy
    assert (await proxy.get("/", **{"X-Forwarded-For": "203.0.113.9, 127.0.0.1"}))[0] == 200  # through two proxies
    # Not a trusted proxy: its X-Forwarded-For is ignored, and it is counted as itself.
    assert [(await stranger.get("/", **client))[0] for _ in range(BURST)] == [200] * BURST


async def test_the_shop_api_is_limited_per_key(limited: RunningShop) -> None:
    acme = await limited.daifu.api_keys.create("Acme", created_by=None)
    globex = await limited.daifu.api_keys.create("Globex", created_by=None)
    async with aiohttp.ClientSession() as session:
        acme_api = ApiClient(session, limited.web_url, acme.key)
        globex_api = ApiClient(session, limited.web_url, globex.key)

        served = [(await acme_api.call("GET", "/api/v1/orders"))[0] for _ in range(KEY_BURST)]
        status, body, headers = await acme_api.call("GET", "/api/v1/orders")

        assert served == [200] * KEY_BURST  # more than the address's burst: a shop's calls count against its key
        assert status == 429 and body["error"]["code"] == "too_many_requests"
        assert 1 <= int(headers["Retry-After"]) <= 10
        assert (await globex_api.call("GET", "/api/v1/orders"))[0] == 200  # from the same address

        # Unknown keys count against their address: a stranger guessing keys is turned away.
        guesses = [(await acme_api.call("GET", "/api/v1/orders", key=f"dfk_{n}"))[0] for n in range(BURST + 1)]
        assert guesses[:BURST] == [401] * BURST
        assert guesses[-1] == 429
        status, body, _headers = await globex_api.call("GET", "/api/v1/orders", key="dfk_guess")
        assert status == 429 and body["error"]["code"] == "too_many_requests"


def test_the_buckets_forget_the_least_recent_addresses_beyond_their_size() -> None:
    clock = [0.0]
    buckets = TokenBuckets(Rate(per_second=1, burst=1), remembered=100, clock=lambda: clock[0])
    assert buckets.take("flooder") == 0 and buckets.take("flooder") > 0

    for n in range(1_000):  # a million spoofed addresses would do the same
        buckets.take(f"10.0.{n // 256}.{n % 256}")

    assert len(buckets) == 100
    clock[0] += 0.5
    assert buckets.take("10.0.3.231") == 0.5  # still remembered: half a token back
