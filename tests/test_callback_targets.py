"""Which addresses count as public for shop callbacks, and the resolver that keeps callbacks to those."""

from __future__ import annotations

import socket
from ipaddress import ip_address

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from services.callback_targets import (
    NotPublicAddress,
    PublicOnlyResolver,
    connect_host,
    non_public_kind,
    public_socket,
    spelled_kind,
)


class FixedAnswers(AbstractResolver):
    """A DNS that answers every name with the same addresses (what a rebinding attacker's DNS would do)."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses
        self.closed = False

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=address, port=port, family=family, proto=0, flags=0)
            for address in self.addresses
        ]

    async def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.5", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.0.1", "private"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("ff0e::1", "multicast"),  # global-scope multicast: is_global alone would let it through
        ("fec0::1", "private"),  # deprecated site-local
        ("240.0.0.1", "private"),  # is_private covers the reserved 240/4 too
        ("100.64.0.1", "not globally routable"),  # carrier-grade NAT
        ("::ffff:10.0.0.5", "private"),
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 to 127.0.0.1
        ("2002:a00:5::1", "private"),  # 6to4 of 10.0.0.5
        ("8.8.8.8", None),
        ("93.184.216.34", None),
        ("172.32.0.1", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::808:808", None),  # a public IPv4 host seen from an IPv6-only network
    ],
)
def test_what_counts_as_public(address: str, kind: str | None) -> None:
    assert non_public_kind(ip_address(address)) == kind


def test_spelled_addresses_include_the_legacy_forms_the_c_library_reads() -> None:
    kinds = {
        "127.1": "loopback",
        "2130706433": "loopback",
        "0x7f.0.0.1": "loopback",
        "10.1": "private",
        "localhost": None,  # a name: judged on what it resolves to, at delivery
        "shop.example": None,
        "8.8.8.8": None,
        "2606:4700:4700::1111": None,
    }
    assert {host: spelled_kind(host) for host in kinds} == kinds


async def test_the_resolver_keeps_only_public_addresses() -> None:
    inner = FixedAnswers("127.0.0.1", "93.184.216.34", "::1", "2606:4700:4700::1111", "169.254.169.254")
    resolver = PublicOnlyResolver(inner)

    found = await resolver.resolve("shop.example", 443, socket.AF_UNSPEC)

    assert [each["host"] for each in found] == ["93.184.216.34", "2606:4700:4700::1111"]
    assert {each["port"] for each in found} == {443}
    await resolver.close()
    assert inner.closed


async def test_the_resolver_refuses_a_name_with_no_public_address() -> None:
    resolver = PublicOnlyResolver(FixedAnswers("127.0.0.1", "10.0.0.5", "fe80::1%lo"))

    with pytest.raises(NotPublicAddress) as refused:
        await resolver.resolve("rebound.example", 80)

    assert str(refused.value) == "rebound.example resolves to no public address (only 127.0.0.1, 10.0.0.5, fe80::1%lo)"
    assert isinstance(refused.value, OSError)  # what aiohttp's connector expects from a resolver


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://１２７.０.０.１/", "127.0.0.1"),  # fullwidth digits and full stop: NFKC
        ("http://127。0。0。1:8080/", "127.0.0.1"),  # the ideographic full stop is a dot to IDNA
        ("http://⑫⑦.0.0.1/", "127.0.0.1"),  # a circled twelve is "12"
        ("http://ＬＯＣＡＬＨＯＳＴ/", "localhost"),
        ("http://[::ffff:127.0.0.1]/", "::ffff:7f00:1"),
        ("http://127.0.0.1../", "127.0.0.1."),  # aiohttp squeezes trailing dots to one
        ("https://Bücher.example/", "xn--bcher-kva.example"),
    ],
)
def test_the_host_is_read_as_aiohttp_connects_to_it(url: str, host: str) -> None:
    assert connect_host(url) == host


@pytest.mark.parametrize(
    ("host", "kind"),
    [("fe80::1%25eth0", "link-local"), ("::1%lo", "loopback"), ("127.0.0.1.", "loopback"), ("0177.0.0.1", "loopback")],
)
def test_zone_ids_and_trailing_dots_do_not_hide_an_address(host: str, kind: str) -> None:
    assert spelled_kind(host) == kind


def test_the_socket_factory_refuses_non_public_addresses_and_opens_public_ones() -> None:
    with pytest.raises(NotPublicAddress, match=r"169\.254\.169\.254 is not a public address \(link-local\)"):
        public_socket((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 80)))
    with pytest.raises(NotPublicAddress, match="loopback"):
        public_socket((socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::ffff:127.0.0.1", 80, 0, 0)))
    opened = public_socket((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 443)))
    opened.close()
