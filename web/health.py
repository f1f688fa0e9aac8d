"""Operations endpoints: /healthz (the process is up), /readyz (it can do its work), /metrics (Prometheus).

The public port serves /healthz alone (a load balancer or an orchestrator in front of it probes it); the
operations listener (OPS_HOST:OPS_PORT) serves all three, so the figures and the readiness of a worker are not
handed to anyone on the internet.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest

from services.daifu import Daifu
from services.metrics import REGISTRY

log = logging.getLogger(__name__)
CHECK_SECONDS = 3.0
# Telegram's Bot API is asked at most this often whatever polls /readyz (every worker, every few seconds, from
# Kubernetes and a balancer and Prometheus): a probe must not spend the bot's request budget.
BOT_API_FRESH_SECONDS = 30.0
# A failing answer is remembered for less: a worker back in touch goes back into rotation soon.
BOT_API_FAILING_FRESH_SECONDS = 5.0
OUTBOX_BACKLOG = Gauge("daifu_outbox_backlog", "Callbacks to shops not delivered yet", registry=REGISTRY)
PARKED_ITEMS = Gauge(
    "daifu_parked_items",
    "Provider notices, refunds and messages owed that are parked now (no longer retried; an admin sees them), by kind",
    ["kind"],
    registry=REGISTRY,
)

Probe = Callable[[], Awaitable[object]]


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def public_routes() -> list[web.RouteDef]:
    """What the public port serves of these: the liveness probe."""
    return [web.get("/healthz", healthz)]


async def check(name: str, probe: Probe) -> bool:
    """Whether the probe answered in time; any failure means not ready, and the log says which."""
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            await probe()
    except Exception as error:
        log.warning("readiness check %s failed: %s", name, type(error).__name__)
        return False
    return True


class RememberedCheck:
    """A check whose answer is kept for a while: asked again only once it is stale, and then once for everyone
    asking at that moment (they share the check in flight)."""

    def __init__(
        self,
        name: str,
        probe: Probe,
        *,
        fresh_for: float = BOT_API_FRESH_SECONDS,
        failing_fresh_for: float = BOT_API_FAILING_FRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.probe = probe
        self.fresh_for = fresh_for
        self.failing_fresh_for = failing_fresh_for
        self.clock = clock
        self._answer: bool | None = None
        self._answered_at = 0.0
        self._in_flight: asyncio.Task[bool] | None = None

    def _fresh(self) -> bool:
        if self._answer is None:
            return False
        kept = self.fresh_for if self._answer else self.failing_fresh_for
        return self.clock() - self._answered_at < kept

    async def ok(self) -> bool:
        if self._fresh():
            assert self._answer is not None
            return self._answer
        if self._in_flight is None:
            self._in_flight = asyncio.ensure_future(self._ask())
        # Shielded: one asker going away (its client hung up) does not cancel the check the others wait for.
        return await asyncio.shield(self._in_flight)

    async def _ask(self) -> bool:
        try:
            answer = await check(self.name, self.probe)
            self._answer, self._answered_at = answer, self.clock()
            return answer
        finally:
            self._in_flight = None


class OperationsEndpoints:
    """/healthz, /readyz and /metrics, for the operations listener."""

    def __init__(self, daifu: Daifu, bot_api_reachable: Probe, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.daifu = daifu
        self.bot_api = RememberedCheck("bot_api", bot_api_reachable, clock=clock)

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/healthz", healthz), web.get("/readyz", self.readyz), web.get("/metrics", self.metrics)]

    async def readyz(self, _request: web.Request) -> web.Response:
        # The database is asked on every request: it is this worker's own pool and a trivial query, nothing outside
        # daifu pays for it, and a worker that lost its database should leave the balancer's rotation at once.
        checks = {
            "database": await check("database", self.daifu.probes.database_answers),
            "bot_api": await self.bot_api.ok(),
        }
        ready = all(checks.values())
        shown = {name: "ok" if passed else "failing" for name, passed in checks.items()}
        return web.json_response(
            {"status": "ready" if ready else "not ready", "checks": shown}, status=200 if ready else 503
        )

    async def metrics(self, _request: web.Request) -> web.Response:
        OUTBOX_BACKLOG.set(await self.daifu.probes.callbacks_waiting())
        for kind, count in (await self.daifu.probes.parked_items()).items():
            PARKED_ITEMS.labels(kind=kind).set(count)
        body = generate_latest(REGISTRY)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
