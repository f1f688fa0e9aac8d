"""Polling mode: each batch from getUpdates is written to the inbox before the next getUpdates confirms it to
Telegram, so a batch the inbox could not take comes again, and is handled once; an update still being handled
keeps its lease, so no recovery takes it up while its worker lives."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

import bot.runtime
import services.update_inbox
from services.update_inbox import UpdateInbox
from storage.models import TelegramUpdate
from tests.harness import BOT_USERNAME, RunningShop, running_shop
from tests.test_kill_points import Locks, postgres_only


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


async def test_an_update_still_being_handled_keeps_its_lease_and_no_other_worker_takes_it(
    database_url: str, unused_tcp_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    postgres_only(database_url)
    monkeypatch.setattr(bot.runtime, "RENEW_LEASES_SECONDS", 0.2)
    monkeypatch.setattr(services.update_inbox, "RECOVER_AFTER", timedelta(seconds=1))
    async with running_shop(database_url, unused_tcp_port) as shop:
        locks = Locks(database_url)  # released before the shop stops, which waits for the update held by it
        try:
            emu, alice = shop.emu, shop.alice
            token = await shop.new_link("/newlink 7 USD Tea")
            await emu.open_link(alice, f"https://t.me/{BOT_USERNAME}?start={token}")
            await emu.click(alice, await emu.next_bot_message(alice), "Pay by card")
            invoice = await emu.next_bot_message(alice)
            await locks.hold("SELECT id FROM payments FOR UPDATE")  # crediting the charge waits, for seconds
            await emu.pay_invoice(alice, invoice)
            await locks.worker_waits()

            await asyncio.sleep(2.5)  # over twice the time after which an update counts as lost
            another_worker = UpdateInbox(shop.daifu.db)
            assert await another_worker.unfinished() == []  # its lease was renewed meanwhile
        finally:
            await locks.close()
        await shop.told(alice, "Payment received")
        await emu.send_text(alice, "/help")
        await shop.told(alice, "/my")
        assert shop.times_told(alice, "Payment received") == 1
