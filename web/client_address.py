"""Who sent a web request: the one answer that throttling, provider notices and the logs all use.

The client is the connection's peer, or, when the peer is one of the trusted proxies (TRUSTED_PROXIES), the
right-most address in X-Forwarded-For that is not one of them: each trusted proxy appends the address it was
reached from, and what a client writes to the left of that is its own say-so. From any other peer the header is
ignored, so a stranger cannot pass for someone else by sending it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from aiohttp import web

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
TRUSTED_PROXIES = web.AppKey("trusted_proxies", tuple[IPNetwork, ...])


def parse_networks(texts: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Addresses and CIDR ranges as a setting lists them ("10.0.0.1, 192.168.0.0/16")."""
    return tuple(ipaddress.ip_network(text.strip(), strict=False) for text in texts if text.strip())


def in_networks(address: str, networks: Iterable[IPNetwork]) -> bool:
    """Whether an address (a peer's, zone id and IPv4-mapped spelling allowed) is in one of the networks."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


def trust_proxies(app: web.Application, networks: tuple[IPNetwork, ...]) -> None:
    """The proxies whose X-Forwarded-For this application believes."""
    app[TRUSTED_PROXIES] = networks


def client_address(request: web.Request) -> str:
    """The peer, or behind trusted proxies the right-most forwarded address that is not one of them."""
    trusted = request.config_dict.get(TRUSTED_PROXIES, ())
    address = request.remote or ""
    if not in_networks(address, trusted):
        return address
    forwarded = ",".join(request.headers.getall("X-Forwarded-For", []))
    for hop in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        try:
            ipaddress.ip_address(hop.split("%", 1)[0])
        except ValueError:
            return address  # garbage where a proxy's address should be: the last known hop answers for it
        if not in_networks(hop, trusted):
            return hop
        address = hop
    return address
