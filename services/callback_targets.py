"""Where shop callbacks may go: public internet addresses only, so a callback URL cannot reach into daifu's network.

A shop chooses its callback URL and daifu POSTs to it from inside its own network, so a URL naming
127.0.0.1, 10.0.0.5 or 169.254.169.254 (a cloud's metadata service) would make daifu a proxy into places
only it can reach (SSRF). A URL that spells such an address is refused when the order is made; a host
name is checked at each delivery, on the addresses it resolves to then (PublicOnlyResolver), because its
DNS answer may change after the order was made (DNS rebinding). Tests and on-premise shops whose backend
is on a private network allow private targets (CALLBACK_ALLOW_PRIVATE_ADDRESSES).
"""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

IPAddress = IPv4Address | IPv6Address
NAT64 = IPv6Network("64:ff9b::/96")  # the well-known NAT64 prefix: its last 32 bits are the IPv4 address reached


def non_public_kind(address: IPAddress) -> str | None:
    """None for an address on the public internet; otherwise what it is ("loopback", "private", ...)."""
    if isinstance(address, IPv6Address):
        translated = address.ipv4_mapped or (IPv4Address(int(address) & 0xFFFFFFFF) if address in NAT64 else None)
        if translated is not None:  # a connection to it goes to that IPv4 address: judge that one
            return non_public_kind(translated)
        tunnelled = address.sixtofour or (address.teredo[1] if address.teredo else None)
        if tunnelled is not None and (kind := non_public_kind(tunnelled)) is not None:
            return kind
    # is_global alone lets multicast (and in Python 3.11 deprecated site-local IPv6) through: ask each in turn.
    kinds = [
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private or (isinstance(address, IPv6Address) and address.is_site_local)),
        ("reserved", address.is_reserved),
    ]
    for kind, applies in kinds:
        if applies:
            return kind
    return None if address.is_global else "not globally routable"


def spelled_address(host: str) -> IPAddress | None:
    """The address a URL's host spells out, if it is one, including legacy IPv4 forms (127.1, 2130706433)."""
    try:
        return ip_address(host)
    except ValueError:
        pass
    try:
        return IPv4Address(socket.inet_aton(host))  # what the C library would connect to for such a host
    except (OSError, ValueError):  # not an address (ValueError: a NUL in it)
        return None


class NotPublicAddress(OSError):
    """A callback target that is not on the public internet; aiohttp reports it as a failed connection."""


def spelled_kind(host: str) -> str | None:
    """What a URL host is when it spells out a non-public address ("loopback", ...); None for names and public ones."""
    address = spelled_address(host)
    return None if address is None else non_public_kind(address)


class PublicOnlyResolver(AbstractResolver):
    """Resolves as aiohttp would, then drops every non-public address; raises when none is left.

    aiohttp connects only to what its resolver returns (an address spelled in the URL skips the resolver, so
    the delivery judges that one itself): this checks the very addresses connected to, at each connection.
    """

    def __init__(self, resolver: AbstractResolver | None = None) -> None:
        self._resolver = resolver or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._resolver.resolve(host, port, family)
        public = [each for each in found if non_public_kind(ip_address(each["host"])) is None]
        if not public:
            addresses = ", ".join(dict.fromkeys(each["host"] for each in found))
            raise NotPublicAddress(f"{host} resolves to no public address (only {addresses})")
        return public

    async def close(self) -> None:
        await self._resolver.close()
