"""The topology deploy/ ships, run as processes (containers cannot run on these machines): nginx from the kit's
own template in front of two webhook workers on a fresh PostgreSQL database, after the one-shot migration.

A pay-for-me journey goes through the proxy and both workers serve it; /metrics and /readyz stay off the public
side while /healthz answers; and a provider notice records the client's address as nginx forwarded it.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from sqlmodel import col, select

from emulator import BotApiEmulator
from storage.database import Database
from storage.models import Order, OrderStatus, RejectedNotice
from tests.databases import PostgresDatabases
from tests.flows.payforme_steps import ask_friend, current, share_card
from tests.harness import BOT_USERNAME, RunningShop
from tests.nginx import Nginx, nginx_binary, self_signed_certificate
from tests.ports import free_port
from tests.workers import Worker

pytestmark = pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed (scripts/ensure-nginx)")

# Loopback addresses of their own, so that nginx, the workers and the test tell the hops apart: nginx reaches the
# workers from 127.0.0.1 (the one proxy the workers trust, besides the CDN below).
CLIENT = "127.0.0.3"  # someone on the Internet, talking to nginx directly
CDN = "127.0.0.4"  # a proxy the shop also trusts, in front of nginx (a CDN, say)
FORWARDED_BY_CDN = "203.0.113.7"  # the client the CDN saw
SLOW = 20.0  # worker processes on a busy machine answer slower than a daifu in the test's own process


@dataclass
class Topology:
    shop: RunningShop  # the people and the steps they take; daifu itself runs in the workers
    workers: list[Worker]
    nginx: Nginx
    proxy_url: str
    plain_http_url: str
    database_url: str


async def healthy(url: str) -> None:
    async with aiohttp.ClientSession() as client:
        for _ in range(300):
            try:
                async with client.get(url) as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"{url} never answered")


@pytest.fixture
async def topology(postgres: PostgresDatabases, tmp_path: Path) -> AsyncIterator[Topology]:
    database_url = await postgres.empty()  # the migration below makes the schema
    proxy_port, plain_http_port = free_port(), free_port()
    proxy_url = f"http://127.0.0.1:{proxy_port}"
    async with BotApiEmulator(token="123456:TEST-topology", bot_username=BOT_USERNAME, bot_name="daifu") as emu:
        shop = RunningShop(emu, database_url, proxy_port)  # never started: its web_url is the proxy
        settings = {
            "PAYMENT_PROVIDERS": "sandbox,telegram",
            "SHOP_NAME": "Bean There",
            "TRUSTED_PROXIES": f"127.0.0.1,{CDN}",
            "OPS_HOST": "127.0.0.1",
        }
        workers = []
        for name in ("first", "second"):
            workdir = tmp_path / name
            workdir.mkdir()
            workers.append(Worker(emu, database_url, shop.admin.id, workdir, public_base_url=proxy_url, env=settings))

        # compose's `migrate` service: once, before any worker.
        migrated = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "bot", "migrate"],
            env=workers[0].env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr

        certificates = tmp_path / "certificates"
        certificates.mkdir()
        self_signed_certificate(certificates)
        nginx = Nginx(
            tmp_path / "nginx",
            {
                # compose's values, but for two workers on this machine instead of the service name `bot`, and
                # plain HTTP on the public listener (the emulator posts updates over HTTP; the certificates are
                # still loaded, so the TLS settings are checked).
                "DAIFU_UPSTREAM": " ".join(f"server 127.0.0.1:{worker.port};" for worker in workers),
                "DAIFU_LISTEN": f"127.0.0.1:{proxy_port}",
                "DAIFU_HTTP_LISTEN": f"127.0.0.1:{plain_http_port}",
                "DAIFU_SERVER_NAME": "localhost",
                "DAIFU_CERTIFICATES": str(certificates),
            },
        )
        nginx.start()
        for worker in workers:
            worker.start()
        try:
            for worker in workers:
                await healthy(f"http://127.0.0.1:{worker.port}/healthz")
            await emu.wait_for(lambda: emu.world.webhook is not None, timeout=SLOW)
            yield Topology(shop, workers, nginx, proxy_url, f"http://127.0.0.1:{plain_http_port}", database_url)
        finally:
            for worker in workers:
                worker.stop()
            nginx.stop()
            for worker in workers:  # shown when the test fails
                print(f"--- {worker.workdir.name} worker's log\n{(worker.workdir / 'worker.log').read_text()}")
            print(f"--- nginx's error log\n{nginx.error_log()}")


async def pay_for_me_through_the_proxy(topology: Topology) -> None:
    shop = topology.shop
    emu, alice, bob = shop.emu, shop.alice, shop.bob
    group = emu.add_group("Friends", members=[alice, bob, shop.carol])
    order = await shop.new_link("/newlink 12.50 USD Coffee beans")
    request = await ask_friend(shop, alice, order)
    card = await share_card(shop, alice, request, group)
    link = await emu.click(bob, card, "Pay for Alice")
    await emu.open_link(bob, link)
    offer = await emu.next_bot_message(bob, timeout=SLOW)
    assert "Alice asks you to pay $12.50 for Coffee beans at Bean There" in offer["text"]
    await emu.click(bob, offer, "sandbox", timeout=SLOW)
    page_url = await emu.click(bob, await shop.told(bob, "Open the checkout page"), "Open checkout page")
    assert page_url.startswith(topology.proxy_url)  # the payer's browser goes through the proxy too
    status, _page = await shop.post(page_url, data={"decision": "pay"})
    assert status == 200
    told_alice = await shop.told(alice, "paid for you")
    assert "Bob paid for you" in told_alice["text"]
    await emu.wait_for(lambda: "Paid by Bob" in current(shop, card)["text"], timeout=SLOW)

    db = Database(topology.database_url)
    try:
        async with db.transaction() as session:
            paid = (await session.exec(select(Order).where(col(Order.token) == order))).one()
        assert paid.status == OrderStatus.PAID and paid.payer_id == bob.id
    finally:
        await db.dispose()


async def updates_handled(worker: Worker) -> float:
    """The updates a worker handled, from its own /metrics on the operations port."""
    async with (
        aiohttp.ClientSession() as client,
        client.get(f"http://127.0.0.1:{worker.ops_port}/metrics") as answer,
    ):
        assert answer.status == 200
        text = await answer.text()
    return sum(float(value) for value in re.findall(r"^daifu_updates_total\{[^}]*\} (\S+)$", text, re.MULTILINE))


async def send_forged_notice(proxy_url: str, *, source: str, forwarded_for: str) -> int:
    """A provider notice no provider signed, sent to nginx from `source` with an X-Forwarded-For of its own."""
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with (
        aiohttp.ClientSession(connector=connector) as client,
        client.post(
            f"{proxy_url}/notify/sandbox", data=b'{"forged": true}', headers={"X-Forwarded-For": forwarded_for}
        ) as answer,
    ):
        return answer.status


async def rejected_from(database_url: str) -> list[str | None]:
    db = Database(database_url)
    try:
        async with db.transaction() as session:
            rows = (await session.exec(select(RejectedNotice).order_by(col(RejectedNotice.id)))).all()
        return [row.remote for row in rows]
    finally:
        await db.dispose()


async def test_the_shipped_topology_serves_a_journey_on_both_workers_and_keeps_operations_private(
    topology: Topology,
) -> None:
    await pay_for_me_through_the_proxy(topology)

    # nginx balanced per request: each worker took some of the journey's updates.
    for worker in topology.workers:
        assert await updates_handled(worker) > 0, f"the {worker.workdir.name} worker handled no update"
    upstreams = {
        line.split("upstream=")[1].split()[0] for line in topology.nginx.access_log() if "/telegram/webhook" in line
    }
    assert upstreams == {f"127.0.0.1:{worker.port}" for worker in topology.workers}

    async with aiohttp.ClientSession() as client:
        for path, wanted in (("/metrics", 404), ("/readyz", 404), ("/healthz", 200)):
            async with client.get(topology.proxy_url + path) as answer:
                assert answer.status == wanted, path
        # The orchestrator may ask over plain HTTP; anything else there is sent to HTTPS.
        async with client.get(topology.plain_http_url + "/healthz") as answer:
            assert answer.status == 200
        async with client.get(
            topology.plain_http_url + "/r/anything", headers={"Host": "shop.example.com"}, allow_redirects=False
        ) as answer:
            assert answer.status == 301 and answer.headers["Location"] == "https://shop.example.com/r/anything"

    # A notice records the client nginx saw. A client's own X-Forwarded-For is passed over: nginx appends the
    # address it was reached from, which the workers do not trust, so that one is the client.
    assert await send_forged_notice(topology.proxy_url, source=CLIENT, forwarded_for="198.51.100.1") >= 400
    # Behind a proxy the shop also trusts, the chain goes on to the address that proxy saw.
    assert await send_forged_notice(topology.proxy_url, source=CDN, forwarded_for=FORWARDED_BY_CDN) >= 400
    assert await rejected_from(topology.database_url) == [CLIENT, FORWARDED_BY_CDN]
