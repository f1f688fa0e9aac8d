"""The shop's backend as the callback tests run it: takes daifu's signed callbacks on loopback."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Receiver:
    """The shop's backend: answers 500 to the first `failures` POSTs, then 200."""

    url: str = ""
    failures: int = 0
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        if len(self.received) <= self.failures:
            return web.Response(status=500, text="database is down")
        return web.Response(status=200, text="ok")

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received]
