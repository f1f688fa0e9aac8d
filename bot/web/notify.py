"""Provider notify endpoints: verify the notice, apply it once, then hand the notices to the bot.

Telling people happens on PTB's update queue (handlers.notices.ProviderNotices), so a provider's notice
flows through the same machinery as a Telegram update.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from handlers.notices import ProviderNotices
from payments.base import InvalidNotice
from services.daifu import Daifu
from services.settlement import UnknownCheckout

log = logging.getLogger(__name__)
MAX_NOTICE_BYTES = 64 * 1024


class NotifyEndpoints:
    def __init__(self, daifu: Daifu, update_queue: asyncio.Queue[object]) -> None:
        self.daifu = daifu
        self.update_queue = update_queue

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/notify/{provider}", self.receive)]

    async def receive(self, request: web.Request) -> web.Response:
        provider = self.daifu.providers.get(request.match_info["provider"])
        if provider is None:
            return web.json_response({"error": "unknown provider"}, status=404)
        if (request.content_length or 0) > MAX_NOTICE_BYTES:
            return web.json_response({"error": "notice too large"}, status=413)
        body = await request.read()
        try:
            event = await provider.parse_notice(request.headers, body)
        except InvalidNotice as error:
            log.warning("refused %s notice from %s: %s", provider.name, request.remote, error)
            return web.json_response({"error": "invalid notice"}, status=400)
        try:
            notices = await self.daifu.settlements.receive(event)
        except UnknownCheckout:
            log.warning("%s notice for unknown checkout %s", provider.name, event.checkout_ref)
            return web.json_response({"error": "unknown checkout"}, status=404)
        if notices:
            await self.update_queue.put(ProviderNotices(tuple(notices)))
        return web.json_response({"received": True})
