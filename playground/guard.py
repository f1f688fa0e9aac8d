"""Only the playground's own page may drive it: checks of Host, Origin and Content-Type on its routes.

The playground acts as anyone in its world (pays, taps, writes), so a page on another site must not be able
to call it: not by a form or a `text/plain` fetch (no CORS preflight; Origin and Content-Type stop those),
nor by DNS rebinding (a foreign name resolved to this machine: the Host check stops that; an address typed
as digits cannot be rebound, so any IP address is a fine Host).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

LOOPBACK_NAMES = frozenset({"localhost"})
PREFIX = "/playground"
# The page's own script, styles and images; no frames around it and none of its own.
PAGE_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data: blob:",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
        "form-action 'self'",
    ]
)


def host_name(host: str) -> str:
    """`example.org:8080` -> `example.org`; `[::1]:80` -> `::1`."""
    try:
        return (urlsplit(f"//{host}").hostname or "").lower()
    except ValueError:  # "[::1", say: no name at all
        return ""


class PlaygroundGuard:
    def __init__(self, public_base_url: str) -> None:
        own = urlsplit(public_base_url)
        self.origin = f"{own.scheme}://{own.netloc}".lower()
        self.names = LOOPBACK_NAMES | {host_name(own.netloc)}

    def known_host(self, host: str) -> bool:
        name = host_name(host)
        if name in self.names:
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True

    def refusal(self, request: web.Request) -> web.Response | None:
        """Why this request may not reach the playground, as its JSON answer; None if it may."""
        if not self.known_host(request.host):
            names = ", ".join(sorted(self.names))
            return refuse(421, f"the playground answers only to {names} and IP addresses, not to {request.host!r}")
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return None
        if self.from_elsewhere(request):
            return refuse(403, "the playground takes actions only from its own page")
        if request.content_type != "application/json":
            return refuse(415, "send the action as application/json")
        return None

    def from_elsewhere(self, request: web.Request) -> bool:
        fetch_site = request.headers.get("Sec-Fetch-Site")
        if fetch_site is not None:  # the browser's own word; a page cannot set it
            return fetch_site != "same-origin"
        origin = request.headers.get("Origin")
        return origin is not None and origin.lower() not in {self.origin, f"{request.scheme}://{request.host}".lower()}

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
            refused = self.refusal(request)
            if refused is not None:
                return refused
        return await handler(request)


def refuse(status: int, why: str) -> web.Response:
    return web.json_response({"error": why}, status=status)
