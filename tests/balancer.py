"""A load balancer in front of several workers, as production runs them: each request goes to one picked at
random, so any update, page or provider notice may reach any worker."""

from __future__ import annotations

import random
from collections import Counter

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from tests.ports import free_port

# Headers about the connection or the body's encoding, which the balancer's own answer sets anew.
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "date", "server"}


class Balancer:
    """Sends each request to a worker picked at random, as a load balancer in front of them would; or, with
    `alternate`, to each worker in turn (round robin), so that consecutive requests never meet the same worker."""

    def __init__(self, workers: list[str], *, rng: random.Random | None = None, alternate: bool = False) -> None:
        self.workers = workers
        self.rng = rng or random.Random()
        self.alternate = alternate
        self._turn = 0
        self.picked: Counter[str] = Counter()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None

    async def forward(self, request: web.Request) -> web.Response:
        assert self._client is not None
        worker = self._pick()
        self.picked[worker] += 1
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        try:
            async with self._client.request(
                request.method,
                worker + request.path_qs,
                data=await request.read(),
                headers=headers,
                allow_redirects=False,  # a redirect (to a checkout page) is the browser's to follow
            ) as answer:
                body = await answer.read()  # decoded: the encoding headers go with it
                passed = CIMultiDict((k, v) for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP)
                return web.Response(status=answer.status, body=body, headers=passed)
        except aiohttp.ClientConnectorError:
            # A worker still starting (or gone): a load balancer answers 502, and Telegram sends the update again.
            return web.Response(status=502)

    def _pick(self) -> str:
        if not self.alternate:
            return self.rng.choice(self.workers)
        self._turn += 1
        return self.workers[self._turn % len(self.workers)]

    async def start(self) -> None:
        # No per-host cap: dozens of payers and the webhook talk to the workers at once.
        # No cookie jar: the browsers behind the balancer keep their own cookies, never each other's.
        self._client = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), cookie_jar=aiohttp.DummyCookieJar()
        )
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
