"""A load balancer in front of several workers, as production runs them: each request goes to one picked at
random, so any update, page or provider notice may reach any worker."""

from __future__ import annotations

import random
from collections import Counter

import aiohttp
from aiohttp import web

from tests.workers import free_port


class Balancer:
    """Sends each request to a worker picked at random, as a load balancer in front of them would."""

    def __init__(self, workers: list[str], *, rng: random.Random | None = None) -> None:
        self.workers = workers
        self.rng = rng or random.Random()
        self.picked: Counter[str] = Counter()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None

    async def forward(self, request: web.Request) -> web.Response:
        assert self._client is not None
        worker = self.rng.choice(self.workers)
        self.picked[worker] += 1
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        try:
            async with self._client.request(
                request.method, worker + request.path_qs, data=await request.read(), headers=headers
            ) as answer:
                return web.Response(status=answer.status, body=await answer.read(), content_type=answer.content_type)
        except aiohttp.ClientConnectorError:
            # A worker still starting (or gone): a load balancer answers 502, and Telegram sends the update again.
            return web.Response(status=502)

    async def start(self) -> None:
        # No per-host cap: dozens of payers and the webhook talk to the workers at once.
        self._client = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._client is not None:
            await self._client.close()
