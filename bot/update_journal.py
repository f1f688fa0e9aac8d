"""The journal every Telegram update goes through, by webhook or by polling: written down before Telegram is
told it arrived, handed to PTB once, marked done after its handlers ran, and handed again if a crashed worker
never finished it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any

from telegram import Update
from telegram.ext import Application, TypeHandler

from services.update_inbox import DoneMarks, UpdateInbox

log = logging.getLogger(__name__)
LAST_GROUP = 1_000_000  # after every feature's handlers
# Queries Telegram waits on for seconds only (pre-checkout: 10 s; inline: while the person types), and whose
# handlers change nothing that a second delivery could double (a pre-checkout reads; an inline answer reuses the
# checkout it opened before). Journaling them would buy nothing: recovered 30 s after a crash, they would answer
# no one. They skip the inbox, which saves a transaction for two of the nine updates of a pay-for-me journey.
UNJOURNALED = ("pre_checkout_query", "inline_query")


def journaled(payload: dict[str, Any]) -> bool:
    return not any(kind in payload for kind in UNJOURNALED)


class UpdateJournal:
    def __init__(self, application: Application[Any, Any, Any, Any, Any, Any], inbox: UpdateInbox) -> None:
        self.application = application
        self.inbox = inbox
        self.done_marks = DoneMarks(inbox)

    async def take(self, payload: dict[str, Any], body: str) -> bool:
        """Write the update (its JSON text, as received) down and queue it for PTB; False, and nothing queued,
        if it came before (a retry)."""
        if not await self._write(payload, body):
            return False
        await self.application.update_queue.put(Update.de_json(payload, self.application.bot))
        return True

    async def take_all(self, updates: Sequence[Update]) -> None:
        """A batch from getUpdates: written down in one transaction (the inbox groups writes waiting together),
        then queued in order, those that came before left out."""
        payloads = [update.to_dict() for update in updates]
        fresh = await asyncio.gather(*(self._write(payload, json_text(payload)) for payload in payloads))
        for update, new in zip(updates, fresh, strict=True):
            if new:
                await self.application.update_queue.put(update)

    async def _write(self, payload: dict[str, Any], body: str) -> bool:
        update_id = int(payload["update_id"])
        if journaled(payload) and not await self.inbox.accept(update_id, body):
            log.info("update %s arrived again; it is handled once", update_id)
            return False
        return True

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

    async def close(self) -> None:
        await self.inbox.close()
        await self.done_marks.close()


def json_text(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"))
