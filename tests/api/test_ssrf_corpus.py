"""The SSRF guard has one idea of a host: well over 100 spellings of non-public addresses, Unicode ones included,
are refused when an order is made and (a sample, spelling the loopback a real receiver listens on) at delivery,
and the socket check stops a connection to loopback whatever the resolver said; public hosts are still taken."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from sqlmodel import func, select

from services.callback_delivery import deliver_due
from services.callback_targets import NotPublicAddress, PublicOnlyResolver, public_socket
from storage.models import Order
from tests.api.client import ApiClient
from tests.api.shop_backend import Receiver
from tests.api.test_callbacks import deliveries, later, pause_callback_job
from tests.harness import RunningShop, running_shop

PRIVATE_ALLOWED = pytest.mark.parametrize("shop", [True], indirect=True, ids=["private-allowed"])
FULLWIDTH = str.maketrans("0123456789.", "０１２３４５６７８９．")
BOLD = str.maketrans("0123456789", "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗")
CIRCLED = str.maketrans("0123456789", "⓪①②③④⑤⑥⑦⑧⑨")
FULL_STOPS = ("。", "．", "｡")  # ideographic, fullwidth and halfwidth full stops: IDNA reads each as "."
NON_PUBLIC_V4 = ["127.0.0.1", "169.254.169.254", "10.0.0.1", "192.168.1.1", "172.16.0.1", "0.0.0.0", "100.64.0.1"]


@pytest.fixture
async def shop(request: pytest.FixtureRequest, database_url: str, unused_tcp_port: int) -> AsyncIterator[RunningShop]:
    allowed = bool(getattr(request, "param", False))
    async with running_shop(database_url, unused_tcp_port, callback_allow_private_addresses=allowed) as running:
        pause_callback_job(running)
        yield running


def ipv4_spellings(dotted: str) -> Iterator[str]:
    """Every way to write one IPv4 address that a C library, aiohttp or IDNA turns back into it."""
    a, b, c, d = (int(part) for part in dotted.split("."))
    whole = (a << 24) | (b << 16) | (c << 8) | d
    yield dotted
    yield dotted + "."
    yield str(whole)  # 2130706433
    yield hex(whole)  # 0x7f000001
    yield oct(whole).replace("0o", "0")  # 017700000001
    yield f"{a}.{(b << 16) | (c << 8) | d}"  # 127.1
    yield f"{a}.{b}.{(c << 8) | d}"  # 127.0.1
    yield ".".join(f"0{part:o}" for part in (a, b, c, d))  # 0177.00.00.01
    yield ".".join(hex(part) for part in (a, b, c, d))  # 0x7f.0x0.0x0.0x1
    yield f"{hex(a)}.{(b << 16) | (c << 8) | d}"  # 0x7f.1
    yield dotted.translate(FULLWIDTH)  # １２７．０．０．１
    yield dotted.translate(BOLD)
    yield dotted.translate(CIRCLED)
    for stop in FULL_STOPS:
        yield dotted.replace(".", stop)


def corpus() -> list[str]:
    hosts = [spelling for address in NON_PUBLIC_V4 for spelling in ipv4_spellings(address)]
    hosts += [
        "⑫⑦.0.0.1",  # a circled twelve is "12" once NFKC has read it
        "⑫⑦。⓪。⓪。①",
        "①⑥⑨.②⑤④.①⑥⑨.②⑤④",
        "１６９。２５４。１６９。２５４",
        "0X7F.1",
        "0x7f.0.0.0x1",
        "127.000.000.001",
        "127.0.0.1..",
        "[::1]",
        "[0:0:0:0:0:0:0:1]",
        "[0000:0000:0000:0000:0000:0000:0000:0001]",
        "[::0001]",
        "[::1%25eth0]",
        "[::1%25lo]",
        "[::]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "[::FFFF:7F00:1]",
        "[0:0:0:0:0:ffff:7f00:1]",
        "[::ffff:169.254.169.254]",
        "[::ffff:a9fe:a9fe]",
        "[::ffff:10.0.0.1]",
        "[::127.0.0.1]",  # IPv4-compatible (deprecated)
        "[::7f00:1]",
        "[::ffff:0:7f00:1]",  # IPv4-translated (SIIT)
        "[64:ff9b::127.0.0.1]",  # NAT64 to the loopback
        "[64:ff9b::7f00:1]",
        "[64:ff9b::a9fe:a9fe]",  # NAT64 to cloud metadata
        "[64:ff9b:1::a9fe:a9fe]",  # local-use NAT64
        "[2002:7f00:1::]",  # 6to4 of 127.0.0.1
        "[2002:a9fe:a9fe::1]",  # 6to4 of 169.254.169.254
        "[2002:a00:1::1]",
        "[fe80::1]",
        "[fe80::1%25eth0]",
        "[FE80::a9fe:a9fe]",
        "[fc00::1]",
        "[fd00:ec2::254]",  # AWS metadata over IPv6
        "[fec0::1]",
        "[ff02::1]",
        "[::ffff:0.0.0.0]",
    ]
    return [f"http://{host}/callback" for host in hosts] + [f"https://{host}:8443/x" for host in hosts[:10]]


REFUSED_PREFIXES = ("callback_url must point to a public address, not ",)


async def orders_in_database(shop: RunningShop) -> int:
    async with shop.daifu.db.transaction() as session:
        return int((await session.exec(select(func.count()).select_from(Order))).one())


async def test_every_spelling_of_a_non_public_address_is_refused_when_the_order_is_made(
    shop: RunningShop, api: ApiClient
) -> None:
    urls = corpus()
    assert len(set(urls)) >= 100
    taken = {}
    for url in urls:
        status, answer = await api.create({"amount_minor": 500, "currency": "USD", "title": "T", "callback_url": url})
        message = answer.get("error", {}).get("message", "") if status == 400 else ""
        if not message.startswith(REFUSED_PREFIXES):
            taken[url] = (status, answer)

    assert taken == {}
    assert await orders_in_database(shop) == 0


async def test_unicode_spellings_are_named_as_written_and_as_read(api: ApiClient) -> None:
    status, answer = await api.create(
        {"amount_minor": 500, "currency": "USD", "title": "T", "callback_url": "http://１２７.０.０.１/"}
    )

    assert status == 400
    assert answer["error"]["message"] == (
        "callback_url must point to a public address, not １２７.０.０.１ (read as 127.0.0.1: loopback)"
    )


async def test_public_hosts_in_any_spelling_are_still_taken(api: ApiClient) -> None:
    for url in [
        "https://shop.example/daifu",
        "https://bücher.example/daifu",  # an internationalised name
        "https://xn--bcher-kva.example/daifu",
        "https://SHOP.EXAMPLE./daifu",
        "http://93.184.216.34/daifu",
        "http://９３．１８４．２１６．３４/daifu",  # a public address in fullwidth digits is still public
        "http://172.32.0.1/daifu",
        "http://[2606:4700:4700::1111]/daifu",
        "http://[64:ff9b::808:808]/daifu",
        "http://[::ffff:8.8.8.8]/daifu",
    ]:
        order = await api.new_order(callback_url=url)
        assert order["callback_url"] == url


@PRIVATE_ALLOWED
async def test_spellings_of_the_loopback_are_refused_at_delivery_and_the_receiver_gets_nothing(
    shop: RunningShop, api: ApiClient, receiver: Receiver
) -> None:
    """Taken while private targets were allowed, then delivered as shipped: the receiver on 127.0.0.1 hears nothing."""
    port = receiver.url.rsplit(":", 1)[1].split("/")[0]
    sample = [
        f"http://１２７.０.０.１:{port}/daifu",
        f"http://127。0。0。1:{port}/daifu",
        f"http://⑫⑦.0.0.1:{port}/daifu",
        f"http://𝟏𝟐𝟕.𝟎.𝟎.𝟏:{port}/daifu",
        f"http://2130706433:{port}/daifu",
        f"http://0x7f.1:{port}/daifu",
        f"http://0177.0.0.1:{port}/daifu",
        f"http://127.1:{port}/daifu",
        f"http://127.0.0.1.:{port}/daifu",
        f"http://[::ffff:127.0.0.1]:{port}/daifu",
        f"http://[64:ff9b::7f00:1]:{port}/daifu",
        f"http://localhost:{port}/daifu",
        f"http://ｌｏｃａｌｈｏｓｔ:{port}/daifu",
    ]
    for url in sample:
        order = await api.new_order(callback_url=url)
        await api.post(f"/api/v1/orders/{order['id']}/cancel")

    run = await deliver_due(shop.daifu.db, private_allowed=False, clock=later(1))

    assert (run.delivered, run.failed) == (0, len(sample))
    assert receiver.received == []
    errors = {row.url: row.last_error for row in await deliveries(shop)}
    assert all(error is not None and error.startswith("refused: ") for error in errors.values()), errors

    # The same rows, delivered with private targets allowed, do arrive: the refusals above were the guard's.
    allowed = await deliver_due(shop.daifu.db, private_allowed=True, clock=later(2))
    assert allowed.delivered >= 1 and len(receiver.received) == allowed.delivered


class Rebinding(AbstractResolver):
    """A DNS that answers every name with the loopback (a rebinding attacker's second answer)."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [ResolveResult(hostname=host, host="127.0.0.1", port=port, family=family, proto=0, flags=0)]

    async def close(self) -> None:
        pass


@pytest.mark.parametrize("guarded", [True, False], ids=["socket-checked", "control-unchecked"])
async def test_the_socket_check_stops_a_connection_to_loopback_whatever_the_resolver_said(
    receiver: Receiver, guarded: bool
) -> None:
    """The connector's socket_factory judges the address the socket connects to, behind any resolver."""
    port = receiver.url.rsplit(":", 1)[1].split("/")[0]
    connector = aiohttp.TCPConnector(resolver=Rebinding(), socket_factory=public_socket if guarded else None)
    async with aiohttp.ClientSession(connector=connector) as client:
        try:
            async with client.post(f"http://shop.example:{port}/daifu", data=b"{}") as answer:
                outcome: object = answer.status
        except aiohttp.ClientConnectorError as error:
            outcome = error.os_error

    if guarded:
        assert isinstance(outcome, NotPublicAddress), outcome
        assert str(outcome) == "127.0.0.1 is not a public address (loopback)"
        assert receiver.received == []
    else:  # the control: without the check the same connection reaches the receiver
        assert outcome == 200 and len(receiver.received) == 1


async def test_the_resolver_and_the_socket_check_together_refuse_a_rebound_name(receiver: Receiver) -> None:
    port = receiver.url.rsplit(":", 1)[1].split("/")[0]
    connector = aiohttp.TCPConnector(resolver=PublicOnlyResolver(Rebinding()), socket_factory=public_socket)
    async with aiohttp.ClientSession(connector=connector) as client:
        with pytest.raises(aiohttp.ClientConnectorError) as refused:
            await client.post(f"http://rebound.example:{port}/daifu", data=b"{}")

    assert isinstance(refused.value.os_error, NotPublicAddress)
    assert receiver.received == []
