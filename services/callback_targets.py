"""Where shop callbacks may go: public internet addresses only, so a callback URL cannot reach into daifu's network.

A shop chooses its callback URL and daifu POSTs to it from inside its own network, so a URL naming
127.0.0.1, 10.0.0.5 or 169.254.169.254 (a cloud's metadata service) would make daifu a proxy into places
only it can reach (SSRF). Tests and on-premise shops whose backend is on a private network allow private
targets (CALLBACK_ALLOW_PRIVATE_ADDRESSES).

One idea of a host: the guard never reads the URL with a parser of its own. It asks yarl, the parser aiohttp
itself uses, for the host aiohttp will connect to (`connect_host`): yarl applies IDNA/UTS46 with NFKC, so
`１２７.０.０.１`, `127。0。0。1` and `⑫⑦.0.0.1` are all judged as the 127.0.0.1 they become, not as the
names they look like. Three gates then hold, each on what is really connected to:
- when the order is made, an address spelled in the URL (in any IPv4 or IPv6 spelling) is refused;
- at each delivery, the same check again, and a host name is resolved by PublicOnlyResolver, which keeps
  only public addresses (a DNS answer may change after the order was made: DNS rebinding);
- at each connection, `public_socket` (aiohttp's documented TCPConnector(socket_factory=...)) refuses to
  open a socket to any address that is not public, whatever path led there: this is the address the socket
  then connects to, so nothing between the check and the connect can change it.
"""

from __future__ import annotations

import re
import socket
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

IPAddress = IPv4Address | IPv6Address
NAT64 = IPv6Network("64:ff9b::/96")  # the well-known NAT64 prefix: its last 32 bits are the IPv4 address reached
NAT64_LOCAL = IPv6Network("64:ff9b:1::/48")  # local-use NAT64 (RFC 8215): the IPv4 address is in its last 32 bits
# A host name as DNS has them once IDNA made it ASCII: letters, digits, hyphens and underscores between dots.
HOST_NAME = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)(\.(?!-)[a-z0-9_-]{1,63}(?<!-))*\.?", re.IGNORECASE)


def non_public_kind(address: IPAddress) -> str | None:
    """None for an address on the public internet; otherwise what it is ("loopback", "private", ...)."""
    if isinstance(address, IPv6Address):
        embedded = address in NAT64 or address in NAT64_LOCAL
        translated = address.ipv4_mapped or (IPv4Address(int(address) & 0xFFFFFFFF) if embedded else None)
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
    """The address a host spells out, if it is one, in any spelling the C library or aiohttp reads as one.

    IPv6 with or without brackets, with a zone id (`fe80::1%eth0`, `%25` in a URL); IPv4 dotted, and the
    legacy forms inet_aton takes (`127.1`, `2130706433`, `0177.0.0.1`, `0x7f.1`); any of them with a
    trailing dot (a fully qualified name the resolver would still read as the address).
    """
    bare = host.strip("[]")
    if ":" in bare:
        try:  # the zone id says which interface, not which address: judge the address
            return IPv6Address(bare.split("%", 1)[0])
        except ValueError:
            return None
    bare = bare.rstrip(".")
    try:
        return ip_address(bare)
    except ValueError:
        pass
    try:
        return IPv4Address(socket.inet_aton(bare))  # what the C library would connect to for such a host
    except (OSError, ValueError):  # not an address (ValueError: a NUL in it)
        return None


def spelled_kind(host: str) -> str | None:
    """What a host is when it spells out a non-public address ("loopback", ...); None for names and public ones."""
    address = spelled_address(host)
    return None if address is None else non_public_kind(address)


class BadCallbackUrl(ValueError):
    """A callback URL that is no http(s) URL aiohttp could call."""


def connect_host(url: str | URL) -> str:
    """The host aiohttp connects to for this URL, read by aiohttp's own parser (yarl) and its rules.

    yarl maps the host through IDNA/UTS46 (NFKC, full stops such as `。` to `.`, case folding); aiohttp then
    connects to that `raw_host`, squeezing trailing dots to one. Raises BadCallbackUrl for what yarl refuses.
    """
    try:
        parsed = url if isinstance(url, URL) else URL(url)
        host = parsed.raw_host
    except (ValueError, TypeError, UnicodeError) as error:
        raise BadCallbackUrl(str(error)) from None
    if not host:
        raise BadCallbackUrl("no host")
    return host.rstrip(".") + "." if host.endswith("..") else host


def callback_url_problem(url: str, *, private_allowed: bool, max_length: int = 2048) -> str | None:
    """Why a shop's callback_url is refused, or None; said to the shop as the API's error message.

    An address spelled out in the URL is judged now; a host name passes, and the addresses it resolves to are
    judged at each delivery, since its DNS answer may change in between.
    """
    not_http = "callback_url must be an http or https URL"
    if len(url) > max_length:
        return not_http
    try:
        parsed = URL(url)
        host = connect_host(parsed)
    except (BadCallbackUrl, ValueError, TypeError):
        return not_http
    if parsed.scheme not in ("http", "https") or not parsed.absolute:
        return not_http
    # Credentials in a URL end up in logs and in the admins' /order view; either parser seeing some refuses.
    if parsed.raw_user is not None or parsed.raw_password is not None or "@" in _written_netloc(url):
        return "callback_url must not carry a user name or password (user:password@)"
    if private_allowed:
        return None
    written = _written_host(url) or host
    if spelled_address(host) is None and not HOST_NAME.fullmatch(host):
        return f"callback_url must name a host or an IP address, not {written}"
    return target_problem(host, written=written)


def target_problem(host: str, *, written: str | None = None) -> str | None:
    """Why a connection to this host (as connect_host gives it) is refused: a non-public spelled address.

    The message names the host as the shop wrote it, and what it is read as when that looks different.
    """
    address = spelled_address(host)
    kind = None if address is None else non_public_kind(address)
    if address is None or kind is None:
        return None
    shown = written or host
    why = kind if spelled_address(shown) == address else f"read as {address}: {kind}"
    return f"callback_url must point to a public address, not {shown} ({why})"


def _written_netloc(url: str) -> str:
    try:
        return urlsplit(url).netloc
    except ValueError:
        return ""


def _written_host(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


class NotPublicAddress(OSError):
    """A callback target that is not on the public internet; aiohttp reports it as a failed connection."""


def public_socket(addr_info: tuple[Any, ...]) -> socket.socket:
    """A socket for aiohttp's TCPConnector(socket_factory=...), refused unless the address it will reach is public.

    aiohappyeyeballs calls this with the very (family, type, proto, canonname, sockaddr) it then connects the
    socket to, for every attempt: an address spelled in a URL (which skips the resolver), a resolved name, a
    cached DNS answer or a redirect all pass here, so this is the last word on where a callback goes.
    """
    family, kind, proto, _canonname, sockaddr = addr_info
    address = ip_address(str(sockaddr[0]).split("%", 1)[0])
    why = non_public_kind(address)
    if why is not None:
        raise NotPublicAddress(f"{address} is not a public address ({why})")
    return socket.socket(family=family, type=kind, proto=proto)


class PublicOnlyResolver(AbstractResolver):
    """Resolves as aiohttp would, then drops every non-public address; raises when none is left.

    Keeping the public addresses of a name that also has private ones lets the delivery go to those (a
    socket_factory refusal alone would end the attempt at the first private one).
    """

    def __init__(self, resolver: AbstractResolver | None = None) -> None:
        self._resolver = resolver or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._resolver.resolve(host, port, family)
        public = [each for each in found if non_public_kind(ip_address(each["host"].split("%", 1)[0])) is None]
        if not public:
            addresses = ", ".join(dict.fromkeys(each["host"] for each in found))
            raise NotPublicAddress(f"{host} resolves to no public address (only {addresses})")
        return public

    async def close(self) -> None:
        await self._resolver.close()
