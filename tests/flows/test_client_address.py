"""Behind a reverse proxy named in TRUSTED_PROXIES, what daifu records of a request's sender is the client the proxy
forwarded, not the proxy; from any other peer X-Forwarded-For is ignored, so no one can claim another address."""

from __future__ import annotations

import logging

import pytest
from sqlmodel import select

from payments.base import ChargeOutcome
from payments.sandbox import SIGNATURE_HEADER, SandboxGateway
from services.money import Money
from storage.models import ProviderNotice, RejectedNotice
from tests.harness import RunningShop, running_shop

CLIENT = "203.0.113.7"
# What a client may write in front of its own address: its say-so, never believed.
CLAIMED = "198.51.100.1"


async def signed_notice(shop: RunningShop) -> tuple[dict[str, str], bytes]:
    """A sandbox notice of a payment, signed as the sandbox signs them."""
    order = await shop.daifu.orders.create(Money(700, "USD"), "Tea", created_by=shop.admin.id)
    checkout = await shop.daifu.checkouts.start(order.token, "sandbox", payer_id=shop.alice.id)
    gateway = shop.daifu.providers["sandbox"]
    assert isinstance(gateway, SandboxGateway) and checkout.url is not None
    session = gateway.open_session(checkout.url.rsplit("/", 1)[1])
    assert session is not None
    return gateway.signed_notice(session, ChargeOutcome.SUCCEEDED)


async def notice_sources(shop: RunningShop) -> tuple[list[str | None], list[str | None]]:
    """Where the kept notices and the short records of refused ones came from."""
    async with shop.daifu.db.transaction() as session:
        kept = [row.remote for row in (await session.exec(select(ProviderNotice))).all()]
        refused = [row.remote for row in (await session.exec(select(RejectedNotice))).all()]
    return kept, refused


async def post_notices(shop: RunningShop, forwarded_for: str) -> None:
    headers, body = await signed_notice(shop)
    status, _ = await shop.post(
        f"{shop.web_url}/notify/sandbox", data=body, headers=headers | {"X-Forwarded-For": forwarded_for}
    )
    assert status == 200
    forged = headers | {SIGNATURE_HEADER: "0" * 64, "X-Forwarded-For": forwarded_for}
    status, _ = await shop.post(f"{shop.web_url}/notify/sandbox", data=body, headers=forged)
    assert status != 200


async def test_behind_a_trusted_proxy_a_notice_records_the_forwarded_client(
    database_url: str, unused_tcp_port: int
) -> None:
    async with running_shop(database_url, unused_tcp_port, trusted_proxies="127.0.0.1") as shop:
        await post_notices(shop, f"{CLAIMED}, {CLIENT}")

        assert await notice_sources(shop) == ([CLIENT], [CLIENT])


async def test_from_an_untrusted_peer_a_forged_forwarded_address_is_ignored(
    database_url: str, unused_tcp_port: int
) -> None:
    async with running_shop(database_url, unused_tcp_port) as shop:
        await post_notices(shop, CLIENT)

        assert await notice_sources(shop) == (["127.0.0.1"], ["127.0.0.1"])


async def test_a_refused_webhook_request_is_logged_with_the_forwarded_client(
    database_url: str, unused_tcp_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    settings = {"run_mode": "webhook", "webhook_secret": "the-secret", "trusted_proxies": "127.0.0.1"}
    async with running_shop(database_url, unused_tcp_port, **settings) as shop:
        with caplog.at_level(logging.WARNING, logger="bot.webhook"):
            status, _ = await shop.post(
                shop.web_url + shop.settings.webhook_path, data=b"{}", headers={"X-Forwarded-For": CLIENT}
            )

    assert status == 403
    assert f"without the right secret token from {CLIENT}" in caplog.text
