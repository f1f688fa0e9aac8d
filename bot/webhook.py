"""Webhook mode: Telegram POSTs updates to daifu's own web server (PTB runs without its updater).

Every request must carry the secret token given to setWebhook (compared in constant time), or it is
refused with 403 and logged. An update is written to the inbox before it is handed to PTB, so a retry of
the same update_id is dropped and an update a crashed worker never finished is found again.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from aiohttp import web
from telegram import Update
from telegram.ext import Application, TypeHandler

from services.update_inbox import DoneMarks, UpdateInbox

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_UPDATE_BYTES = 1024 * 1024
LAST_GROUP = 1_000_000  # after every feature's handlers
# Queries Telegram waits on for seconds only (pre-checkout: 10 s; inline: while the person types), and whose
# handlers change nothing that a second delivery could double (a pre-checkout reads; an inline answer reuses the
# checkout it opened before). Journaling them would buy nothing: recovered 30 s after a crash, they would answer
# no one. They skip the inbox, which saves a transaction for two of the nine updates of a pay-for-me journey.
UNJOURNALED = ("pre_checkout_query", "inline_query")


def journaled(payload: dict[str, Any]) -> bool:
    return not any(kind in payload for kind in UNJOURNALED)


class TelegramWebhook:
    def __init__(self, application: Application[Any, Any, Any, Any, Any, Any], inbox: UpdateInbox, secret: str) -> None:
        self.application = application
        self.inbox = inbox
        self.done_marks = DoneMarks(inbox)
        self.secret = secret.encode()

    def routes(self, path: str) -> list[web.RouteDef]:
        return [web.post(path, self.receive)]

    async def receive(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self.secret):
            log.warning("refused a webhook request without the right secret token from %s", request.remote)
            return web.Response(status=403)
        if (request.content_length or 0) > MAX_UPDATE_BYTES:
            return web.Response(status=413)
        try:
            body = (await request.read()).decode()
            payload = json.loads(body)
            update_id = int(payload["update_id"])
        except (ValueError, KeyError, TypeError):
            return web.Response(status=400)
        if not journaled(payload) or await self.inbox.accept(update_id, body):
            await self.application.update_queue.put(Update.de_json(payload, self.application.bot))
        else:
            log.info("update %s arrived again; it is handled once", update_id)
        return web.Response()

    async def requeue_unfinished(self) -> int:
        """Hand PTB the updates a crashed worker received but never finished."""
        recovered = await self.inbox.unfinished()
        for payload in recovered:
            log.warning("handling update %s again: it was never finished", payload.get("update_id"))
            await self.application.update_queue.put(Update.de_json(payload, self.application.bot))
        return len(recovered)

    def done_marker(self) -> TypeHandler[Any, Any, Any]:
        """A handler that runs after all others for every update, and marks it done in the inbox."""

        async def mark_done(update: Update, _context: object) -> None:
            if all(getattr(update, kind) is None for kind in UNJOURNALED):
                self.done_marks.add(update.update_id)

        return TypeHandler(Update, mark_done)
