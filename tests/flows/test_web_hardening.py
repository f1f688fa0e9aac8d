"""What a browser is told about every web answer, and forms posted from other sites: a stranger's page can
neither frame nor drive daifu's pages (tests/browser/test_other_sites_in_chromium.py tries it in Chromium)."""

from __future__ import annotations

import asyncio
import re

import aiohttp
from multidict import CIMultiDictProxy

from storage.models import OrderStatus, RequestMode
from tests.flows.test_request_web_page import WebFriend, ask, attempts, fresh
from tests.flows.test_sandbox_checkout import open_order
from tests.harness import RunningShop

FOREIGN = "http://evil.example"


async def sandbox_checkout_url(shop: RunningShop, command: str) -> tuple[str, str]:
    """An order made by the admin and opened by Alice, and the sandbox checkout page she is sent to."""
    token = await shop.new_link(command)
    card = await open_order(shop, token)
    await shop.emu.click(shop.alice, card, "sandbox")
    return token, await shop.emu.click(shop.alice, await shop.emu.next_bot_message(shop.alice), "Open checkout page")


async def answer_headers(url: str, method: str = "GET") -> tuple[int, CIMultiDictProxy[str], str]:
    async with aiohttp.ClientSession() as client, client.request(method, url, allow_redirects=False) as answer:
        return answer.status, answer.headers, await answer.text(errors="replace")


def assert_hardened(url: str, headers: CIMultiDictProxy[str], body: str) -> None:
    assert headers["Server"] == "daifu", url  # no "Python/3.x aiohttp/3.x"
    assert headers["X-Content-Type-Options"] == "nosniff", url
    assert headers["Referrer-Policy"] == "same-origin", url
    assert headers["X-Frame-Options"] == "DENY", url
    policy = {
        directive.split()[0]: directive.split()[1:] for directive in headers["Content-Security-Policy"].split("; ")
    }
    assert policy["frame-ancestors"] == ["'none'"], url
    assert policy["default-src"] == ["'none'"] and policy["base-uri"] == ["'none'"], url
    assert policy["object-src"] == ["'none'"] and policy["form-action"][0] == "'self'", url
    assert "script-src" not in policy and "'unsafe-inline'" not in headers["Content-Security-Policy"], url
    if headers.get("Content-Type", "").startswith("text/html"):
        # What the policy would block must not be in the page: it would silently not work.
        assert "<script" not in body and "<style" not in body and " style=" not in body, url


async def test_every_page_and_every_error_tells_the_browser_how_to_treat_it(shop: RunningShop) -> None:
    token, checkout = await sandbox_checkout_url(shop, "/newlink 4.20 USD Tea")
    request = await ask(shop, "/newlink 9 USD Cake", mode=RequestMode.SPLIT)
    pages = [
        "/",
        f"/o/{token}",
        f"/o/{token}/qr.png",
        f"/o/{token}/qr.svg",
        "/o/no-such-order",  # daifu's own 404 page
        f"/r/{request.token}",
        "/r/no-such-request",
        checkout,
        "/sandbox/checkout/tampered.0000",
        "/static/daifu.css",
        "/api/v1/openapi.json",
        "/api/v1/orders",  # 401 JSON
        "/healthz",
        "/nothing/here",  # aiohttp's own 404
    ]
    for page in pages:
        url = page if page.startswith("http") else shop.web_url + page
        status, headers, body = await answer_headers(url)
        assert status < 500, (page, status)
        assert_hardened(page, headers, body)
    # aiohttp's 405, and a POST daifu refuses (an unknown provider)
    for method, path in [("GET", "/notify/sandbox"), ("POST", "/notify/nobody")]:
        status, headers, body = await answer_headers(shop.web_url + path, method)
        assert status in (404, 405)
        assert_hardened(path, headers, body)

    # The stylesheet the pages link to is the one served, so the pages keep their looks under the policy.
    _status, _headers, landing = await answer_headers(f"{shop.web_url}/o/{token}")
    link = re.search(r'<link rel="stylesheet" href="([^"]+)">', landing)
    assert link is not None
    status, headers, css = await answer_headers(shop.web_url + link.group(1))
    assert status == 200 and headers["Content-Type"].startswith("text/css") and ".button" in css

    # Even a request aiohttp cannot parse is answered without naming versions.
    host, port = shop.settings.web_host, shop.settings.web_port
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.") and b" 400 " in answer.split(b"\r\n")[0]
    assert b"Server: daifu\r\n" in answer and b"aiohttp" not in answer and b"Python" not in answer


async def post_form(url: str, data: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as client,
        client.post(url, data=data, headers=headers, allow_redirects=False) as answer,
    ):
        return answer.status, await answer.text()


async def test_a_form_another_site_posts_to_the_sandbox_checkout_pays_nothing(shop: RunningShop) -> None:
    token, checkout = await sandbox_checkout_url(shop, "/newlink 7 USD Scarf")
    own_origin = shop.web_url

    for headers in [
        {"Origin": FOREIGN},
        {"Origin": "null"},  # a sandboxed frame, a data: page
        {"Sec-Fetch-Site": "cross-site", "Origin": FOREIGN},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://shop.127.0.0.1.example"},
        # A browser's own word beats an Origin a script could not have set anyway.
        {"Sec-Fetch-Site": "cross-site", "Origin": own_origin},
    ]:
        status, page = await post_form(checkout, {"decision": "pay"}, headers)
        assert status == 403 and "Another website sent this form, so nothing happened" in page, headers
    order = await shop.daifu.orders.by_token(token)
    assert order is not None and order.status == OrderStatus.PENDING  # checkout started, nothing paid
    assert shop.times_told(shop.alice, "Payment received") == 0

    # The page's own button: same origin, as a browser says it.
    status, page = await post_form(
        checkout, {"decision": "pay"}, {"Origin": own_origin, "Sec-Fetch-Site": "same-origin"}
    )
    assert status == 303  # paid, and sent on to the payer's receipt
    order = await shop.daifu.orders.by_token(token)
    assert order is not None and order.status == OrderStatus.PAID


async def test_a_form_another_site_posts_to_a_request_page_takes_no_hold(shop: RunningShop) -> None:
    request = await ask(shop, "/newlink 12 USD Lunch")
    victim = WebFriend(shop)
    try:
        await refused_then_served(shop, victim, request.token)
    finally:
        await victim.client.close()
    held = await fresh(shop, request)
    assert held.holder is not None and held.holder_name == "Wei"


async def refused_then_served(shop: RunningShop, victim: WebFriend, token: str) -> None:
    await victim.get(f"/r/{token}")
    form = {"form_token": victim.form_token(), "name": "Wei", "method": "sandbox"}
    # Even with the victim's own cookie and form token (were the attacker to know them), a post from
    # another site is refused before anything is read.
    for headers in [{"Origin": FOREIGN}, {"Sec-Fetch-Site": "cross-site"}]:
        async with victim.client.post(
            victim.url(f"/r/{token}"), data=form, headers=headers, allow_redirects=False
        ) as answer:
            assert answer.status == 403 and "Another website sent this form" in await answer.text()
    request = await shop.daifu.request_views.by_token(token)
    assert request is not None and request.holder is None
    assert await attempts(shop, request) == []

    headers = {"Origin": shop.web_url, "Sec-Fetch-Site": "same-origin"}  # the page's own button
    async with victim.client.post(
        victim.url(f"/r/{token}"), data=form, headers=headers, allow_redirects=False
    ) as answer:
        assert answer.status == 303 and "/sandbox/checkout/" in answer.headers["Location"]
