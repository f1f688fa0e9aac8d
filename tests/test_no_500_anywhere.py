"""Hostile bytes at every route daifu's web server has: whatever a stranger sends, the answer is never a 5xx.

The routes are read from the running web application, so a route added later is walked too. Requests are
written byte for byte on a socket (an HTTP client refuses to send most of these), with hostile path
parameters, bodies, content types, cookies and language headers.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from tests.flows.payforme_steps import ask_friend, open_order
from tests.harness import RunningShop, running_shop

WEBHOOK_PATH = "/telegram/webhook"
PATH_VALUES = ["x", "%FF%FE", "%E7%AD%BE%E5%90%8D", "A" * 2000, "..%2F..%2Fetc", "%00", "r_" + "z" * 40, "1e309"]
_random = random.Random(1406)
BODIES: list[tuple[bytes, bytes]] = [
    (b"application/x-www-form-urlencoded", b""),
    (b"application/x-www-form-urlencoded", b"form_token=\xff\xfe&method=sandbox&amount=\xff&decision=pay"),
    (b"application/x-www-form-urlencoded", b"amount=1e309&name=%00%FF&method=" + b"m" * 5000),
    (b"multipart/form-data; boundary=xx", b"--xx\r\nContent-Disposition: form-data; name=\xff\r\n\r\n\xfe"),
    (b"multipart/form-data", b"no boundary at all"),
    (b"application/json", b"[" * 5000 + b"]" * 5000),
    (b"application/json", b'{"amount": 1e999, "currency": "\xff\xfe", "title": null}'),
    (b"application/json; charset=utf-16", bytes(_random.randrange(256) for _ in range(700))),
    (b"text/plain", "签名é".encode() * 50),
    (b"\xff\xfe/\xff", b"\x00\x01\x02"),
]
HOSTILE_HEADERS = [
    (b"Cookie", b"daifu_browser=\xff\xfe; other=" + b"c" * 3000),
    (b"Accept-Language", b"\xff\xfe;q=abc, zh-Hans-CN-x-" + b"y" * 500 + b";q=1e309"),
    (b"Authorization", b"Bearer \xe7\xad\xbe\xff"),
    (b"X-Forwarded-For", b"::ffff:999.1.1.1, \xff"),
    (b"X-Telegram-Bot-Api-Secret-Token", b"\xff" * 300),
]


@pytest.fixture
async def shop(database_url: str, unused_tcp_port: int) -> AsyncIterator[RunningShop]:
    async with running_shop(
        database_url, unused_tcp_port, run_mode="webhook", webhook_secret="no-500-secret", webhook_path=WEBHOOK_PATH
    ) as running:
        yield running


async def send(shop: RunningShop, method: str, path: str, content_type: bytes, body: bytes) -> bytes:
    address = urlsplit(shop.web_url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    head = b"%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nContent-Type: %s\r\nContent-Length: %d\r\n" % (
        method.encode(),
        path.encode(),
        address.netloc.encode(),
        content_type,
        len(body),
    )
    head += b"".join(name + b": " + value + b"\r\n" for name, value in HOSTILE_HEADERS)
    try:
        writer.write(head + b"\r\n" + body)
        await writer.drain()
    except ConnectionError:
        pass  # refused before all of it was read: the answer is still there
    status_line = await reader.readline()
    await reader.read()
    writer.close()
    return status_line


def concrete_paths(template: str, real: list[str]) -> list[str]:
    if "{" not in template:
        return [template]
    return [re.sub(r"\{[^}]+\}", value, template) for value in [*PATH_VALUES, *real]]


async def real_values(shop: RunningShop) -> list[str]:
    """Live tokens, so that hostile bodies get past the lookups into the handlers that read them: an order, a
    request for it, and the sandbox checkout a shopper opened."""
    order = await shop.new_link("/newlink 12.50 USD Coffee beans")
    request = await ask_friend(shop, shop.alice, order)
    other = await shop.new_link("/newlink 3.00 USD Tea")
    card = await open_order(shop, shop.bob, other)
    await shop.emu.click(shop.bob, card, "sandbox")
    page_url = await shop.emu.click(shop.bob, await shop.emu.next_bot_message(shop.bob), "Open checkout page")
    session = urlsplit(page_url).path.rsplit("/", 1)[-1]
    return [order, request, session, "sandbox", "stripe", "1"]


async def test_no_route_answers_hostile_bytes_with_a_server_error(shop: RunningShop) -> None:
    assert shop.runtime is not None and shop.runtime.web_runner is not None
    app = shop.runtime.web_runner.app
    routes = {(route.method, route.resource.canonical) for route in app.router.routes() if route.resource is not None}
    assert any(path == "/r/{token}" for _method, path in routes)  # the walk reaches the pages that take money
    real = await real_values(shop)
    failures: list[str] = []
    sent = 0
    for method, template in sorted(routes):
        if method == "HEAD":
            continue
        bodies = BODIES if method == "POST" else BODIES[:1]
        for path in concrete_paths(template, real):
            for content_type, body in bodies:
                status_line = await send(shop, method, path, content_type, body)
                sent += 1
                if not status_line.startswith(b"HTTP/1.1 ") or status_line[9:10] == b"5":
                    failures.append(f"{method} {path[:60]} [{content_type[:30]!r}]: {status_line[:40]!r}")
    assert sent > 100
    assert failures == []
