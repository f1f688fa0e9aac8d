"""Webhook mode: Telegram POSTs updates to daifu's own web server.

Every request must carry the secret token given to setWebhook (compared in constant time), or it is
refused with 403 and logged. An update is journaled (bot.update_journal) before Telegram gets its 200, so a
retry of the same update_id is dropped and an update a crashed worker never finished is found again. A body
that is not an update at all (not JSON, no update_id) is a 400; an update that cannot be parsed is kept aside
and answered 200.
"""

from __future__ import annotations

import json
import logging

from aiohttp import web

from bot.update_journal import UpdateJournal, update_id_of
from payments.base import secrets_match
from web.client_address import client_address

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_UPDATE_BYTES = 1024 * 1024


class TelegramWebhook:
    def __init__(self, journal: UpdateJournal, secret: str) -> None:
        self.journal = journal
        self.secret = secret.encode()

    def routes(self, path: str) -> list[web.RouteDef]:
        return [web.post(path, self.receive)]

    async def receive(self, request: web.Request) -> web.Response:
        if not secrets_match(request.headers.get(SECRET_HEADER), self.secret):
            log.warning("refused a webhook request without the right secret token from %s", client_address(request))
            return web.Response(status=403)
        if (request.content_length or 0) > MAX_UPDATE_BYTES:
            return web.Response(status=413)
        try:
            body = (await request.read()).decode()
            payload = json.loads(body)
        except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested past the parser's depth
            return web.Response(status=400)
        if update_id_of(payload) is None:
            return web.Response(status=400)
        # Answered 200 even when the update cannot be parsed: it is kept aside as rejected, and a 4xx or 5xx would
        # only make Telegram send it again for a day, holding back the updates behind it.
        await self.journal.take(payload, body)
        return web.Response()
