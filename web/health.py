"""Operations endpoints: /healthz (the process is up), /readyz (it can do its work), /metrics (Prometheus)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest

from services.daifu import Daifu
from services.metrics import REGISTRY

log = logging.getLogger(__name__)
CHECK_SECONDS = 3.0
OUTBOX_BACKLOG = Gauge("daifu_outbox_backlog", "Callbacks to shops not delivered yet", registry=REGISTRY)


class HealthEndpoints:
    def __init__(self, daifu: Daifu, bot_api_reachable: Callable[[], Awaitable[object]]) -> None:
        self.daifu = daifu
        self.bot_api_reachable = bot_api_reachable

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/healthz", self.healthz), web.get("/readyz", self.readyz), web.get("/metrics", self.metrics)]

    async def healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _check(self, name: str, probe: Callable[[], Awaitable[object]]) -> str:
        try:
            async with asyncio.timeout(CHECK_SECONDS):
                await probe()
        except Exception as error:  # any failure means not ready; the log says which
            log.warning("readiness check %s failed: %s", name, type(error).__name__)
            return "failing"
        return "ok"

    async def readyz(self, _request: web.Request) -> web.Response:
        checks = {
            "database": await self._check("database", self.daifu.probes.database_answers),
            "bot_api": await self._check("bot_api", self.bot_api_reachable),
        }
        ready = all(state == "ok" for state in checks.values())
        return web.json_response(
            {"status": "ready" if ready else "not ready", "checks": checks}, status=200 if ready else 503
        )

    async def metrics(self, _request: web.Request) -> web.Response:
        OUTBOX_BACKLOG.set(await self.daifu.probes.callbacks_waiting())
        body = generate_latest(REGISTRY)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
