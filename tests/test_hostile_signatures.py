"""Hostile signatures and tokens at every endpoint that verifies one: random bytes, non-ASCII, empty, huge.

Each is a plain refusal (4xx), never a 500; nothing of it is kept in full and nothing changes. Requests are
written byte for byte on a socket, as an attacker would send them, since an HTTP client refuses such headers.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from urllib.parse import quote_from_bytes, urlsplit

import pytest
from sqlmodel import func, select

from payments.sandbox import SIGNATURE_HEADER as SANDBOX_HEADER
from services.metrics import REGISTRY
from storage.models import (
    Payment,
    PaymentStatus,
    PayRequest,
    ProviderNotice,
    RejectedNotice,
    RequestMode,
    TelegramUpdate,
)
from tests.harness import RunningShop, running_shop
from tests.providers.provider_keys import alipay_keys, wechat_keys

WEBHOOK_SECRET = "hostile-test-secret"
WEBHOOK_PATH = "/telegram/webhook"
WECHAT_SERIAL = wechat_keys().public_key_id
HOSTILE: dict[str, bytes] = {
    "empty": b"",
    "non-ASCII UTF-8": "签名é".encode() * 16,
    "random high bytes": bytes(random.Random(14).randrange(0x80, 0x100) for _ in range(64)),
    "control bytes": b"\x01\x02\x7f\x1b[0m",
    "the right length, non-ASCII": "é".encode() * 32,
    "huge": b"A" * 100_000,
    "huge non-ASCII": "签".encode() * 34_000,
}


@pytest.fixture
async def shop(database_url: str, unused_tcp_port: int) -> AsyncIterator[RunningShop]:
    """A shop taking every kind of notice, in webhook mode; the providers' own servers are never called."""
    async with running_shop(
        database_url,
        unused_tcp_port,
        payment_providers=["sandbox", "stripe", "wechatpay", "alipay"],
        stripe_api_key="sk_test_hostile",
        stripe_webhook_secret="whsec_hostile",
        stripe_api_base="http://127.0.0.1:9",
        run_mode="webhook",
        webhook_secret=WEBHOOK_SECRET,
        webhook_path=WEBHOOK_PATH,
        **wechat_keys().settings("http://127.0.0.1:9"),
        **alipay_keys().settings("http://127.0.0.1:9/gateway.do"),
    ) as running:
        yield running


async def raw_post(shop: RunningShop, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> int:
    """POST exactly these bytes; the status daifu answered (aiohttp's own parser may answer first)."""
    address = urlsplit(shop.web_url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    head = b"POST %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nContent-Length: %d\r\n" % (
        path.encode(),
        address.netloc.encode(),
        len(body),
    )
    head += b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    try:
        writer.write(head + b"\r\n" + body)
        await writer.drain()
    except ConnectionError:
        pass  # refused before it was all read: the answer is still there to read
    status_line = await reader.readline()
    await reader.read()
    writer.close()
    assert status_line.startswith(b"HTTP/1."), f"no answer to {path}: {status_line!r}"
    return int(status_line.split()[1])


def now() -> bytes:
    return str(int(time.time())).encode()


def refused(status: int) -> bool:
    return 400 <= status < 500


async def count(shop: RunningShop, model: type) -> int:
    async with shop.daifu.db.transaction() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one())


def rejected_counted(provider: str) -> float:
    return REGISTRY.get_sample_value("daifu_rejected_notices_total", {"provider": provider}) or 0.0


NOTICE = b'{"id":"evt_1","checkout":"chk_1","charge":"ch_1","outcome":"succeeded","amount":700,"currency":"USD"}'
JSON = (b"Content-Type", b"application/json")
FORM = (b"Content-Type", b"application/x-www-form-urlencoded")


def notices_signed_with(value: bytes) -> list[tuple[str, list[tuple[bytes, bytes]], bytes]]:
    """A notice to each provider whose signature (or signature header) is this value."""
    fresh = [(b"Wechatpay-Timestamp", now()), (b"Wechatpay-Nonce", b"n0nce")]
    alipay_fields = b"app_id=" + alipay_keys().app_id.encode() + b"&notify_id=1&out_trade_no=chk_1&trade_no=2"
    return [
        ("sandbox", [JSON, (SANDBOX_HEADER.encode(), b"t=" + now() + b",v1=" + value)], NOTICE),
        ("sandbox", [JSON, (SANDBOX_HEADER.encode(), value)], NOTICE),
        ("stripe", [JSON, (b"Stripe-Signature", b"t=" + now() + b",v1=" + value)], NOTICE),
        ("stripe", [JSON, (b"Stripe-Signature", value)], NOTICE),
        (
            "wechatpay",
            [JSON, *fresh, (b"Wechatpay-Serial", WECHAT_SERIAL.encode()), (b"Wechatpay-Signature", value)],
            NOTICE,
        ),
        ("wechatpay", [JSON, *fresh, (b"Wechatpay-Serial", value), (b"Wechatpay-Signature", b"c2lnbmF0dXJl")], NOTICE),
        ("alipay", [FORM], alipay_fields + b"&trade_status=TRADE_SUCCESS&sign=" + quote_from_bytes(value).encode()),
        ("alipay", [FORM], value),
    ]


async def test_hostile_notice_signatures_are_refused_and_kept_short(shop: RunningShop) -> None:
    sent: dict[str, int] = {}
    before = {name: rejected_counted(name) for name in ("sandbox", "stripe", "wechatpay", "alipay")}
    for what, value in HOSTILE.items():
        for provider, headers, body in notices_signed_with(value):
            status = await raw_post(shop, f"/notify/{provider}", headers, body)
            assert refused(status), f"{provider} answered {status} to a signature that is {what}"
            sent[provider] = sent.get(provider, 0) + 1

    assert await count(shop, ProviderNotice) == 0  # nothing kept in full
    async with shop.daifu.db.transaction() as session:
        records = (await session.exec(select(RejectedNotice))).all()
    # Those aiohttp refused itself (a 100 KB header) never reached the desk; the others left a short record.
    assert 0 < len(records) <= sum(sent.values())
    assert all(len(record.reason) <= 200 and record.size < 200_000 for record in records)
    for provider in sent:
        reached = sum(record.provider == provider for record in records)
        assert rejected_counted(provider) - before[provider] == reached > 0
    assert await count(shop, Payment) == 0


async def test_hostile_webhook_secrets_are_refused(shop: RunningShop) -> None:
    update = b'{"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}}}'
    for what, value in {**HOSTILE, "the secret with a non-ASCII tail": WEBHOOK_SECRET.encode() + "é".encode()}.items():
        status = await raw_post(shop, WEBHOOK_PATH, [JSON, (b"X-Telegram-Bot-Api-Secret-Token", value)], update)
        assert refused(status), f"the webhook answered {status} to a secret that is {what}"
    assert await count(shop, TelegramUpdate) == 0
    # The right secret still goes through: the refusals were about the secret, not the endpoint.
    right = [JSON, (b"X-Telegram-Bot-Api-Secret-Token", WEBHOOK_SECRET.encode())]
    assert await raw_post(shop, WEBHOOK_PATH, right, update) == 200


async def test_hostile_api_keys_are_refused(shop: RunningShop) -> None:
    body = b'{"amount_minor": 700, "currency": "USD", "title": "Tea"}'
    for what, value in HOSTILE.items():
        for header in (b"Bearer " + value, value, b"Bearer dfk_" + value):
            status = await raw_post(shop, "/api/v1/orders", [JSON, (b"Authorization", header)], body)
            assert refused(status), f"the shop API answered {status} to a key that is {what}"


async def test_hostile_form_tokens_on_a_request_page_are_refused(shop: RunningShop) -> None:
    await shop.emu.send_text(shop.alice, "/help")
    await shop.emu.next_bot_message(shop.alice)
    order_token = await shop.new_link("/newlink 7 USD Tea")
    request = (await shop.daifu.asking.ask(order_token, shop.alice.id, mode=RequestMode.SINGLE)).request
    cookie = (b"Cookie", b"daifu_browser=" + b"b" * 22)
    for what, value in {**HOSTILE, "percent-encoded invalid UTF-8": b"%ff%fe" * 16}.items():
        encoded = value if what.startswith("percent") else quote_from_bytes(value).encode()
        form = b"form_token=" + encoded + b"&name=Mallory&method=sandbox"
        status = await raw_post(shop, f"/r/{request.token}", [FORM, cookie], form)
        assert refused(status), f"the request page answered {status} to a form token that is {what}"
    async with shop.daifu.db.transaction() as session:
        fresh = (await session.exec(select(PayRequest).where(PayRequest.id == request.id))).one()
        pending = (await session.exec(select(Payment).where(Payment.status == PaymentStatus.PENDING))).all()
    assert fresh.holder is None and pending == []  # no hold taken, no checkout opened


async def raw_get(shop: RunningShop, path: bytes) -> int:
    address = urlsplit(shop.web_url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    writer.write(b"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, address.netloc.encode()))
    await writer.drain()
    status_line = await reader.readline()
    await reader.read()
    writer.close()
    return int(status_line.split()[1])


async def test_hostile_sandbox_checkout_links_are_refused(shop: RunningShop) -> None:
    for what, value in HOSTILE.items():
        if len(value) > 4000:
            value = value[:4000]  # a URL that long is refused by the parser anyway; the signature check is the point
        for session in (b"eyJyZWYiOiJ4In0." + value, value + b"." + b"0" * 32):
            status = await raw_get(shop, b"/sandbox/checkout/" + quote_from_bytes(session).encode())
            assert refused(status), f"the sandbox checkout answered {status} to a link that is {what}"
