"""The queue of updates the bot fetches with getUpdates."""

from __future__ import annotations

from typing import Any


class UpdateQueue:
    """Updates stay queued until the bot confirms them with a higher ``offset``, as in Telegram.

    So an update is redelivered after a lost response, but never after it was confirmed.
    """

    def __init__(self) -> None:
        self._pending: list[dict[str, Any]] = []
        self._next_id = 1
        self.allowed_updates: list[str] = []

    def push(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": self._next_id, kind: payload}
        self._next_id += 1
        self._pending.append(update)
        return update

    def push_raw(self, update: dict[str, Any]) -> dict[str, Any]:
        """An update exactly as given (a malformed one, say), numbered like every other."""
        update = {**update, "update_id": self._next_id}
        self._next_id += 1
        self._pending.append(update)
        return update

    def confirm(self, offset: int) -> None:
        if offset < 0:
            # A negative offset keeps only the last -offset updates and forgets the rest.
            self._pending = self._pending[offset:]
        else:
            self._pending = [u for u in self._pending if u["update_id"] >= offset]

    def ready(self, limit: int) -> list[dict[str, Any]]:
        if self.allowed_updates:
            # Telegram does not keep updates of types the bot said it does not want.
            self._pending = [u for u in self._pending if _kind(u) in self.allowed_updates]
        return self._pending[:limit]

    def drop_all(self) -> None:
        self._pending.clear()

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    @property
    def pending(self) -> list[dict[str, Any]]:
        return list(self._pending)


def _kind(update: dict[str, Any]) -> str:
    return next((key for key in update if key != "update_id"), "")
