"""Webhook delivery, as Telegram does it: each pending update is POSTed to the bot's webhook URL with the
secret token header, in order, and sent again until the bot answers 2xx; then it is forgotten."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import aiohttp

from .state import World

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookPusher:
    def __init__(self, world: World, *, retry_seconds: float = 0.5, timeout_seconds: float = 10.0) -> None:
        # Telegram waits longer between attempts (and gives up after about a day); tests want it quick.
        self.world = world
        self.retry_seconds = retry_seconds
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self.delivered: list[dict[str, Any]] = []  # every successful POST, duplicates included
        self.failures: list[tuple[int, str]] = []  # (update_id, why) of attempts the bot did not accept
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=self.timeout)
        self._task = asyncio.create_task(self._run(), name="emulator-webhook")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(self, update: dict[str, Any]) -> bool:
        """POST one update to the webhook; True if the bot accepted it (any 2xx)."""
        webhook = self.world.webhook
        if webhook is None or self._session is None:
            return False
        headers = {"Content-Type": "application/json"}
        if webhook.get("secret_token"):
            headers[SECRET_HEADER] = webhook["secret_token"]
        try:
            async with self._session.post(webhook["url"], data=json.dumps(update), headers=headers) as answer:
                ok = 200 <= answer.status < 300
                why = f"HTTP {answer.status}"
        except (aiohttp.ClientError, TimeoutError) as error:
            ok, why = False, f"{type(error).__name__}: {error}"
        if ok:
            self.delivered.append(update)
        else:
            self.failures.append((update["update_id"], why))
        return ok

    async def _run(self) -> None:
        while not self.world.stopping:
            pending = self.world.updates.ready(1) if self.world.webhook is not None else []
            if not pending:
                await self.world.notifier.wait(1.0)
                continue
            update = pending[0]
            if await self.post(update):
                self.world.updates.confirm(update["update_id"] + 1)
                self.world.notifier.notify()
            else:
                await asyncio.sleep(self.retry_seconds)
