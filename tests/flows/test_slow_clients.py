"""Clients that hold daifu's web server without finishing their requests are cut off, over raw sockets:
headers sent a line at a time, a body trickled a byte at a time, more connections from one address than
the cap. A client that behaves is served all the while."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.web import Application, AppRunner, Response

from tests.flows.test_request_web_page import ask
from tests.flows.test_web_hardening import sandbox_checkout_url
from tests.harness import RunningShop, running_shop
from web.slow_clients import CappedSite

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
CAP = 3
# Far longer than any timeout above: a connection still open after this was never going to be cut off.
GIVE_UP = 15.0


@pytest.fixture
async def web(tmp_path: Path, unused_tcp_port: int) -> AsyncIterator[RunningShop]:
    """daifu with short timeouts, to see slow clients cut off."""
    # Nothing here touches the database beyond starting up: SQLite is enough.
    async with running_shop(
        f"sqlite+aiosqlite:///{tmp_path / 'daifu.db'}",
        unused_tcp_port,
        web_header_timeout=HEADER_TIMEOUT,
        web_body_timeout=BODY_TIMEOUT,
        web_max_connections_per_address=CAP,
    ) as shop:
        yield shop


@pytest.fixture
async def patient_web(tmp_path: Path, unused_tcp_port: int) -> AsyncIterator[RunningShop]:
    """daifu with the usual timeouts, so that a busy test machine cannot make a test's own pauses too long."""
    async with running_shop(
        f"sqlite+aiosqlite:///{tmp_path / 'daifu.db'}", unused_tcp_port, web_max_connections_per_address=CAP
    ) as shop:
        yield shop


@contextlib.asynccontextmanager
async def connection(shop: RunningShop) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection(shop.settings.web_host, shop.settings.web_port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def trickle_until_cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pieces: bytes) -> bytes:
    """Send one byte every 0.2 s until the server closes the connection; what it answered, if anything."""

    async def send() -> None:
        for piece in pieces:
            writer.write(bytes([piece]))
            await writer.drain()
            await asyncio.sleep(0.2)
        await asyncio.sleep(GIVE_UP)  # finished sending: the server waits for more that never comes

    sender = asyncio.create_task(send())
    try:
        async with asyncio.timeout(GIVE_UP):
            return await read_to_close(reader)
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await sender


async def read_to_close(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sent before it closed the connection. Bytes still trickling in after it closed
    make its kernel answer with a reset, which is a close too."""
    answer = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := await reader.read(65536):
            answer += chunk
    return answer


async def served(shop: RunningShop) -> bool:
    """A plain, quick request on a new connection is answered."""
    async with connection(shop) as (reader, writer):
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: daifu\r\nConnection: close\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), GIVE_UP)
    return answer.startswith(b"HTTP/1.1 200 ")


async def test_headers_sent_too_slowly_are_cut_off(web: RunningShop) -> None:
    endless_headers = b"GET /healthz HTTP/1.1\r\nHost: daifu\r\n" + b"X-Slow: " + b"z" * 500
    async with connection(web) as (reader, writer):
        answer = await trickle_until_cut(reader, writer, endless_headers)
        assert answer == b""  # nothing was ever handled: no answer, just closed
        # ...while a client that sends its request at once is served as usual.
        assert await served(web)


async def test_a_connection_that_never_asks_anything_is_closed(web: RunningShop) -> None:
    async with connection(web) as (reader, _writer):
        assert await asyncio.wait_for(reader.read(), GIVE_UP) == b""


async def body_reading_path(shop: RunningShop, route: str) -> str:
    """A path of this route whose handler goes on to read the body (an unknown one is refused before)."""
    if route == "request page":
        return f"/r/{(await ask(shop, '/newlink 5 USD Tea')).token}"
    if route == "sandbox checkout":
        _token, url = await sandbox_checkout_url(shop, "/newlink 5 USD Tea")
        return url.removeprefix(shop.web_url)
    return {"notify": "/notify/sandbox", "shop API": "/api/v1/orders"}[route]


@pytest.mark.parametrize("route", ["notify", "shop API", "request page", "sandbox checkout"])
async def test_a_body_trickled_too_slowly_is_cut_off_with_408(web: RunningShop, route: str) -> None:
    path = await body_reading_path(web, route)
    key = await web.daifu.api_keys.create("Acme", created_by=None)  # so the API reads the body
    head = (
        f"POST {path} HTTP/1.1\r\nHost: daifu\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Authorization: Bearer {key.key}\r\nIdempotency-Key: slow-1\r\nContent-Length: 1000\r\n\r\n"
    ).encode()
    async with connection(web) as (reader, writer):
        writer.write(head)
        answer = await trickle_until_cut(reader, writer, b"decision=pay&" * 70)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"Server: daifu\r\n" in answer
    assert await served(web)


async def test_a_body_sent_in_time_is_read_as_usual(patient_web: RunningShop) -> None:
    """A body that arrives in pieces but in time is read as usual."""
    body = b"not a sandbox notice"
    head = f"POST /notify/sandbox HTTP/1.1\r\nHost: daifu\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    async with connection(patient_web) as (reader, writer):
        writer.write(head + body[:5])
        await writer.drain()
        await asyncio.sleep(0.5)
        writer.write(body[5:])
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n"), GIVE_UP)
    assert not answer.startswith(b"HTTP/1.1 408 ") and answer.startswith(b"HTTP/1.1 4")  # refused as unsigned


async def test_connections_past_the_cap_from_one_address_are_closed(patient_web: RunningShop) -> None:
    web = patient_web
    async with contextlib.AsyncExitStack() as held:
        kept = [await held.enter_async_context(connection(web)) for _ in range(CAP)]
        await asyncio.sleep(0.1)  # the server has taken them all
        async with connection(web) as (reader, writer):
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: daifu\r\n\r\n")
            assert await asyncio.wait_for(reader.read(), GIVE_UP) == b""  # closed unanswered
        # The connections within the cap still work.
        reader, writer = kept[0]
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: daifu\r\nConnection: close\r\n\r\n")
        assert (await asyncio.wait_for(reader.read(), GIVE_UP)).startswith(b"HTTP/1.1 200 ")
    # Once they are closed, the same address is served again.
    await asyncio.sleep(0.1)
    assert await served(web)


async def test_a_proxy_named_uncapped_may_hold_more(unused_tcp_port: int) -> None:
    """Behind a reverse proxy every connection comes from the proxy's address: the runtime names it uncapped."""

    async def hello(_request: object) -> Response:
        return Response(text="hello")

    app = Application()
    app.router.add_get("/", hello)
    runner = AppRunner(app)
    await runner.setup()
    site = CappedSite(runner, "127.0.0.1", unused_tcp_port, max_per_address=1, uncapped=lambda a: a == "127.0.0.1")
    await site.start()
    kept = [await asyncio.open_connection("127.0.0.1", unused_tcp_port) for _ in range(3)]
    try:
        for reader, writer in kept:
            writer.write(b"GET / HTTP/1.1\r\nHost: daifu\r\nConnection: close\r\n\r\n")
            assert (await asyncio.wait_for(reader.read(), GIVE_UP)).endswith(b"hello")
    finally:
        for _reader, writer in kept:
            writer.close()
        await runner.cleanup()
