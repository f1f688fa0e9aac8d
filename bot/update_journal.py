"""The journal every Telegram update goes through, by webhook or by polling: written down before Telegram is
told it arrived, handed to PTB once, marked done after its handlers ran, and handed again if a crashed worker
never finished it. One the library cannot parse is kept aside (rejected, with the error) and skipped.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any

from telegram import Update
from telegram.ext import Application, TypeHandler

from services.done_marks import DoneMarks
from services.metrics import REJECTED_UPDATES
from services.update_inbox import UpdateInbox

log = logging.getLogger(__name__)
LAST_GROUP = 1_000_000  # after every feature's handlers
# Queries Telegram waits on for seconds only (pre-checkout: 10 s; inline: while the person types), and whose
# handlers change nothing that a second delivery could double (a pre-checkout reads; an inline answer reuses the
# checkout it opened before). Journaling them would buy nothing: recovered 30 s after a crash, they would answer
# no one. They skip the inbox, which saves a transaction for two of the nine updates of a pay-for-me journey.
UNJOURNALED = ("pre_checkout_query", "inline_query")
MAX_REJECTION = 500  # characters of a parse error kept with a rejected update
# Telegram's update ids are positive; anything else in update_id is not an update (nor would it fit the column).
MAX_UPDATE_ID = 2**63 - 1


def journaled(payload: dict[str, Any]) -> bool:
    return not any(kind in payload for kind in UNJOURNALED)


class UpdateJournal:
    def __init__(self, application: Application[Any, Any, Any, Any, Any, Any], inbox: UpdateInbox) -> None:
        self.application = application
        self.inbox = inbox
        self.done_marks = DoneMarks(inbox)

    async def take(self, payload: dict[str, Any], body: str) -> bool:
        """Write the update (its JSON text, as received) down and queue it for PTB; False, and nothing queued, if it
        came before (a retry) or cannot be parsed (then it is kept aside, rejected, and skipped).

        The payload must hold an integer update_id (see update_id_of)."""
        update, error = self._parse(payload)
        if update is None:
            await self._set_aside(payload, body, error)
            return False
        if not await self._write(payload, body):
            return False
        await self.application.update_queue.put(update)
        return True

    async def take_all(self, payloads: Sequence[dict[str, Any]]) -> None:
        """A batch from getUpdates, as Telegram sent it: written down in one transaction (the inbox groups writes
        waiting together), then queued in order, those that came before and those that cannot be parsed left out.

        Each update is parsed on its own, so one the library cannot read (a poison update) costs only itself: the
        rest of its batch is handled, and polling moves past it."""
        parsed = [self._parse(payload) for payload in payloads]

        async def write(payload: dict[str, Any], update: Update | None, error: str) -> bool:
            if update is None:
                await self._set_aside(payload, json_text(payload), error)
                return False
            return await self._write(payload, json_text(payload))

        fresh = await asyncio.gather(
            *(write(payload, update, error) for payload, (update, error) in zip(payloads, parsed, strict=True))
        )
        for (update, _error), new in zip(parsed, fresh, strict=True):
            if new and update is not None:
                await self.application.update_queue.put(update)

    def _parse(self, payload: dict[str, Any]) -> tuple[Update | None, str]:
        try:
            return Update.de_json(payload, self.application.bot), ""
        except Exception as error:  # whatever the library raises on a field it cannot read
            # The message may quote the update: no NUL nor lone surrogate, which PostgreSQL's text cannot hold.
            said = f"{type(error).__name__}: {error}".encode(errors="replace").decode().replace("\x00", "")
            return None, said[:MAX_REJECTION]

    async def _set_aside(self, payload: dict[str, Any], body: str, error: str) -> None:
        update_id = int(payload["update_id"])
        if await self.inbox.reject(update_id, body, error):
            REJECTED_UPDATES.inc()
            log.warning("update %s cannot be parsed; kept aside in the inbox, not handled: %s", update_id, error)
        else:
            log.info("update %s arrived again; it was set aside before", update_id)

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
            update, error = self._parse(payload)
            if update is None:  # taken in before poison was set aside on arrival: it would stop every recovery
                await self._set_aside(payload, json_text(payload), error)
                continue
            log.warning("handling update %s again: it was never finished", payload.get("update_id"))
            await self.application.update_queue.put(update)
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


def update_id_of(payload: object) -> int | None:
    """The update's id, if the payload is an object with a usable one: without it an update cannot be kept, nor
    confirmed, nor told apart from a retry."""
    if not isinstance(payload, dict):
        return None
    update_id = payload.get("update_id")
    if isinstance(update_id, bool) or not isinstance(update_id, int) or not 0 < update_id <= MAX_UPDATE_ID:
        return None
    return update_id


def json_text(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"))
