"""Throttling on the web side: a token bucket per client address, a stricter one for form posts, one per API key.

A refused request gets 429 with Retry-After. The client's address is web.client_address's: behind a trusted proxy,
the client the proxy names, not the proxy. Memory is bounded: each set of buckets remembers a fixed number
of keys and forgets the least recently seen first, so a flood of addresses cannot fill it.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from web.client_address import client_address

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Per set of buckets: a full entry is about 250 bytes, so at most some 16 MB each.
REMEMBERED_KEYS = 65_536
# One IPv6 subscriber usually has a whole /64: counted as one address, or it would have 2^64 buckets.
IPV6_PREFIX = 64


@dataclass(frozen=True, slots=True)
class Rate:
    """per_second tokens come back each second, up to burst; each request takes one."""

    per_second: float
    burst: int


@dataclass(frozen=True, slots=True)
class WebLimits:
    per_address: Rate
    forms_per_address: Rate  # POSTs of the pages' forms (a request page, the sandbox checkout)
    per_api_key: Rate
    # Never throttled by address: the orchestrator's probe, and Telegram's own servers posting updates.
    unthrottled_paths: frozenset[str] = frozenset({"/healthz"})
    form_prefixes: tuple[str, ...] = ("/r/", "/sandbox/")
    # Paths a shop calls with its API key: limited per key, and per address only for keys that are refused.
    keyed_prefixes: tuple[str, ...] = ()


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


@dataclass
class TokenBuckets:
    """A token bucket per key, the least recently used forgotten beyond `remembered` keys."""

    rate: Rate
    remembered: int = REMEMBERED_KEYS
    clock: Callable[[], float] = time.monotonic
    _buckets: OrderedDict[str, _Bucket] = field(default_factory=OrderedDict)

    def _refilled(self, key: str) -> _Bucket:
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.rate.burst), now)
            if len(self._buckets) > self.remembered:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(float(self.rate.burst), bucket.tokens + (now - bucket.at) * self.rate.per_second)
            bucket.at = now
        return bucket

    def wait(self, key: str) -> float:
        """Seconds until this key has a token (0: it has one now); takes nothing."""
        bucket = self._refilled(key)
        if bucket.tokens >= 1:
            return 0.0
        return (1 - bucket.tokens) / self.rate.per_second if self.rate.per_second > 0 else math.inf

    def take(self, key: str) -> float:
        """Take a token: 0 if there was one, else the seconds to wait for one (nothing is taken then)."""
        waiting = self.wait(key)
        if not waiting:
            self._buckets[key].tokens -= 1
        return waiting

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after(seconds: float) -> str:
    """Retry-After in whole seconds, at least one (a day at most, for a rate of nothing)."""
    return str(max(1, min(86_400, math.ceil(seconds))))


def too_many_requests(seconds: float, *, as_json: bool = False) -> web.Response:
    """429 with Retry-After; as_json in the shop API's error format."""
    message = "too many requests from your address; try again shortly"
    headers = {"Retry-After": retry_after(seconds)}
    if as_json:
        error = {"error": {"code": "too_many_requests", "message": message}}
        return web.json_response(error, status=429, headers=headers)
    return web.Response(status=429, text=message.capitalize() + ".\n", headers=headers)


def address_key(address: str) -> str:
    """The bucket of an address: itself, an IPv6 one's /64, an IPv4-mapped IPv6 one's IPv4."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_PREFIX), strict=False))
    return str(ip)


class RateLimiter:
    def __init__(self, limits: WebLimits, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.addresses = TokenBuckets(limits.per_address, clock=clock)
        self.forms = TokenBuckets(limits.forms_per_address, clock=clock)
        self.api_keys = TokenBuckets(limits.per_api_key, clock=clock)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        limits, path = self.limits, request.path
        if path in limits.unthrottled_paths:
            return await handler(request)
        key = address_key(client_address(request))
        request[CLIENT_ADDRESS] = key
        keyed = path.startswith(limits.keyed_prefixes)
        if keyed:
            # A shop's own calls count against its key; only an address sending refused keys is turned away here.
            waiting = self.addresses.wait(key)
        else:
            if request.method == "POST" and path.startswith(limits.form_prefixes):
                waiting = self.forms.take(key)
            else:
                waiting = 0.0
            waiting = waiting or self.addresses.take(key)
        if waiting:
            return too_many_requests(waiting, as_json=keyed)
        return await handler(request)

    def key_refused(self, request: web.Request) -> None:
        """A request's API key was refused: it counts against its address, as any stranger's request does."""
        self.addresses.take(request.get(CLIENT_ADDRESS) or address_key(client_address(request)))

    def take_for_key(self, key_id: int) -> float:
        """A call with a known API key: 0 if it may go ahead, else the seconds to wait."""
        return self.api_keys.take(str(key_id))


CLIENT_ADDRESS = web.RequestKey("client_address", str)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
