"""Polling mode: each batch from getUpdates is written to the inbox before the next getUpdates confirms it to
Telegram, so a batch the inbox could not take comes again, and is handled once."""

from __future__ import annotations

from typing import Any

import pytest

from services.update_inbox import UpdateInbox
from storage.models import TelegramUpdate
from tests.harness import RunningShop


async def test_a_batch_the_inbox_could_not_take_is_fetched_again_and_handled_once(
    shop: RunningShop, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = UpdateInbox._write
    failures = []

    async def database_blinks(inbox: UpdateInbox, batch: list[Any]) -> set[int]:
        if not failures:
            failures.append(batch)
            raise ConnectionError("the database went away for a moment")
        return await real_write(inbox, batch)

    monkeypatch.setattr(UpdateInbox, "_write", database_blinks)
    await shop.emu.send_text(shop.alice, "/help")
    # Nothing of a batch the inbox did not take is handled: the answer comes only because Telegram, never told
    # the update arrived, sent it again.
    await shop.told(shop.alice, "/my")

    (((update_id, _payload, _arrived),),) = failures
    assert shop.times_told(shop.alice, "/my") == 1
    async with shop.daifu.db.transaction() as session:
        assert await session.get(TelegramUpdate, update_id) is not None
