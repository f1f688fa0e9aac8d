"""Server-sent events: every change in the emulated Telegram, pushed to each open page as it happens.

Each page holds one stream (``GET /playground/api/events``); the emulator calls back on every new,
edited or deleted message and every chat action, and the stream writes it out as the page draws it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from emulator import BotApiEmulator

from .views import MessageViews
from .words import page_locale

# A comment line now and then keeps proxies and the browser from giving up on a quiet stream.
HEARTBEAT_SECONDS = 15.0
_CLOSE = {"type": "close"}


class EventStreams:
    def __init__(self, emu: BotApiEmulator, views: MessageViews) -> None:
        self.emu = emu
        self.views = views
        self._queues: set[asyncio.Queue[dict[str, Any]]] = set()

    async def stream(self, request: web.Request) -> web.StreamResponse:
        locale = page_locale(request)
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        )
        await response.prepare(request)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._queues.add(queue)
        unsubscribe = self.emu.subscribe(queue.put_nowait)
        try:
            await response.write(b"retry: 1000\n: connected\n\n")
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    await response.write(b": ping\n\n")
                    continue
                if event is _CLOSE:
                    break
                shown = self.shown(event, locale)
                if shown is not None:
                    await response.write(f"data: {json.dumps(shown, ensure_ascii=False)}\n\n".encode())
        except ConnectionResetError:
            pass  # the page went away: nothing more to send
        finally:
            unsubscribe()
            self._queues.discard(queue)
        return response

    def shown(self, event: dict[str, Any], locale: str) -> dict[str, Any] | None:
        """The event as the page needs it; None for what it does not show (tap answers reach it directly)."""
        kind = event["type"]
        if kind in ("message", "edit"):
            return {"type": kind, "chat_id": event["chat_id"], "message": self.views.message(event["message"], locale)}
        if kind == "delete":
            return {"type": "delete", "chat_id": event["chat_id"], "message_id": event["message_id"]}
        if kind == "chat_action":
            return {"type": "typing", "chat_id": event["chat_id"]}
        return None

    async def close_all(self, _app: web.Application | None = None) -> None:
        """End every stream, so that the server's shutdown does not wait for pages to hang up."""
        for queue in list(self._queues):
            queue.put_nowait(_CLOSE)
