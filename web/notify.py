"""Provider notify endpoints: hand the notice to the desk (verified, then kept and applied; a forged one kept only
as a short record) and answer as the provider expects.

What people must be told of it is recorded with the change it made; the teller (handlers.teller) tells it.
"""

from __future__ import annotations

from aiohttp import web

from services.daifu import Daifu
from web.client_address import client_address

MAX_NOTICE_BYTES = 64 * 1024


class NotifyEndpoints:
    def __init__(self, daifu: Daifu) -> None:
        self.daifu = daifu

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/notify/{provider}", self.receive)]

    async def receive(self, request: web.Request) -> web.Response:
        name = request.match_info["provider"]
        if name not in self.daifu.providers:
            return web.json_response({"error": "unknown provider"}, status=404)
        if (request.content_length or 0) > MAX_NOTICE_BYTES:
            return web.json_response({"error": "notice too large"}, status=413)
        try:
            body = await request.read()  # bounded by the application's client_max_size
        except web.HTTPRequestEntityTooLarge:
            return web.json_response({"error": "notice too large"}, status=413)
        if len(body) > MAX_NOTICE_BYTES:
            return web.json_response({"error": "notice too large"}, status=413)
        reply = await self.daifu.notices.receive(name, request.headers, body, remote=client_address(request))
        return web.Response(status=reply.status, text=reply.body, content_type=reply.content_type)
