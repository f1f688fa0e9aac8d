"""Poison updates: an update the library cannot parse (a message without a date, a date in milliseconds, a
callback query without chat_instance) is kept in the inbox as rejected, with the error, and skipped; the updates
beside it and after it are handled, by polling and by webhook alike, and Telegram is never made to send it again."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlmodel import col, select

from emulator.faults import (
    bad_json,
    callback_without_chat_instance,
    date_in_milliseconds,
    message_without_date,
    odd_answer,
    server_error,
    telegram_error,
)
from storage.models import TelegramUpdate, utcnow
from tests.harness import RunningShop, running_shop

SECRET = "webhook-secret_123"
HELP = "/my"  # in the help text, the answer to /start and /help
AGO = timedelta(minutes=5)  # long enough for the inbox's recovery to take an unfinished update for lost


@pytest.fixture
async def hooked(database_url: str, unused_tcp_port: int) -> AsyncIterator[RunningShop]:
    async with running_shop(database_url, unused_tcp_port, run_mode="webhook", webhook_secret=SECRET) as shop:
        yield shop


async def rejected_rows(shop: RunningShop) -> list[TelegramUpdate]:
    async with shop.daifu.db.transaction() as session:
        rows = await session.exec(select(TelegramUpdate).where(col(TelegramUpdate.rejection).is_not(None)))
        return list(rows.all())


async def rejected_so_far(shop: RunningShop) -> float:
    status, metrics = await shop.get(shop.ops_url + "/metrics")
    assert status == 200
    found = re.search(r"^daifu_updates_rejected_total (\S+)$", metrics, re.MULTILINE)
    assert found, "the metric is not exposed"
    return float(found.group(1))


async def a_batch_with_poison_in_the_middle(shop: RunningShop) -> dict[str, Any]:
    emu, alice = shop.emu, shop.alice
    # Nothing yields to the event loop between these three, so they are pending together: one batch in polling.
    await emu.send_text(alice, "/start")
    poison = emu.deliver_raw(message_without_date(alice))
    await emu.send_text(alice, "/help")
    return poison


async def test_a_poison_update_in_a_polling_batch_is_set_aside_and_the_rest_is_handled(
    shop: RunningShop, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.update_journal")
    before = await rejected_so_far(shop)
    poison = await a_batch_with_poison_in_the_middle(shop)

    await shop.emu.wait_for(lambda: shop.times_told(shop.alice, HELP) == 2)
    (row,) = await rejected_rows(shop)
    assert row.update_id == poison["update_id"] and row.done_at is not None
    assert "date" in (row.rejection or "") and '"date"' not in row.payload and "/help" in row.payload
    assert any(
        r.levelno == logging.WARNING and str(poison["update_id"]) in r.getMessage() and "date" in r.getMessage()
        for r in caplog.records
    )
    assert await rejected_so_far(shop) == before + 1

    # Polling moved past it: Telegram was told it arrived, and what comes after is handled.
    await shop.emu.wait_for(lambda: not shop.emu.pending_updates)
    for make in (date_in_milliseconds, callback_without_chat_instance):
        shop.emu.deliver_raw(make(shop.alice))
    await shop.emu.send_text(shop.alice, "/help")
    await shop.emu.wait_for(lambda: shop.times_told(shop.alice, HELP) == 3)
    assert len(await rejected_rows(shop)) == 3
    assert shop.times_told(shop.alice, "went wrong") == 0  # set aside quietly: no handler ran for them


async def test_a_poison_update_by_webhook_is_kept_answered_200_and_the_rest_is_handled(hooked: RunningShop) -> None:
    shop, emu = hooked, hooked.emu
    poison = await a_batch_with_poison_in_the_middle(shop)

    await emu.wait_for(lambda: shop.times_told(shop.alice, HELP) == 2)
    (row,) = await rejected_rows(shop)
    assert row.update_id == poison["update_id"] and "date" in (row.rejection or "")
    assert poison in emu.webhooks.delivered  # accepted at the first attempt: Telegram does not send it again
    assert not [update_id for update_id, _why in emu.webhooks.failures if update_id == poison["update_id"]]

    assert await emu.webhooks.post(poison)  # delivered again all the same (a time-out): kept once, answered 200
    await emu.send_text(shop.alice, "/help")
    await emu.wait_for(lambda: shop.times_told(shop.alice, HELP) == 3)
    assert len(await rejected_rows(shop)) == 1


async def test_an_unfinished_update_that_cannot_be_parsed_is_set_aside_by_the_recovery_and_stops_nothing(
    shop: RunningShop,
) -> None:
    # What an earlier version left behind: a poison update taken in (not done), before a valid one never finished.
    alice = shop.alice
    await shop.emu.send_text(alice, "/language")  # Alice has a chat with the bot
    await shop.stop()
    chat = {"id": alice.id, "type": "private", "first_name": "Alice"}
    person = {"id": alice.id, "is_bot": False, "first_name": "Alice"}
    poison = {"update_id": 424241, "message": {"message_id": 76, "from": person, "chat": chat, "text": "/help"}}
    valid = {"update_id": 424242, "message": {**poison["message"], "message_id": 77, "date": 0}}
    valid["message"]["entities"] = [{"type": "bot_command", "offset": 0, "length": 5}]
    async with shop.daifu_db() as db, db.transaction() as session:
        for update in (poison, valid):
            payload = json.dumps(update)
            session.add(TelegramUpdate(update_id=update["update_id"], payload=payload, received_at=utcnow() - AGO))
    await shop.start()

    # The valid one is answered; the recovery, taking them in update_id order, set the poison one aside before.
    await shop.told(alice, HELP)
    (row,) = await rejected_rows(shop)
    assert row.update_id == 424241 and row.done_at is not None and "date" in (row.rejection or "")
    assert shop.times_told(alice, HELP) == 1


async def test_polling_goes_on_after_get_updates_fails_or_answers_oddly(shop: RunningShop) -> None:
    emu = shop.emu
    for fault in (bad_json(), server_error(502), telegram_error(409, "Conflict: terminated by other getUpdates")):
        emu.faults.fail("getUpdates", fault=fault, times=1)  # one after the other: each waits for the one before
    await emu.send_text(shop.alice, "/help")
    await emu.wait_for(lambda: shop.times_told(shop.alice, HELP) == 1, timeout=30)  # after backing off 1, 2, 4 s
    assert emu.faults.count("getUpdates") == 3

    # A server that ignores the long poll's timeout and answers [] at once is not asked in a busy loop.
    asked = len(emu.calls_to("getUpdates"))
    rule = emu.faults.fail("getUpdates", fault=odd_answer([], performed=False))
    await asyncio.sleep(2)
    emu.faults.rules.remove(rule)
    assert 1 <= len(emu.calls_to("getUpdates")) - asked <= 4
    await emu.send_text(shop.alice, "/help")
    await emu.wait_for(lambda: shop.times_told(shop.alice, HELP) == 2, timeout=10)


async def test_an_edit_answered_with_null_stalls_nothing(shop: RunningShop) -> None:
    # An independent Bot API server answers edits with null: the library cannot read that answer, the handler fails
    # after its work, and the bot goes on.
    emu, alice = shop.emu, shop.alice
    emu.faults.fail("editMessageText", fault=odd_answer(None), times=1)
    sent = await emu.send_text(alice, "/language")
    choice = await shop.told(alice, "Choose your language", after=sent["message_id"])
    await emu.click(alice, choice, "English")
    await emu.wait_for(lambda: shop.times_told(alice, "I will speak English") == 1)  # the edit was made
    await emu.send_text(alice, "/help")
    await emu.wait_for(lambda: shop.times_told(alice, HELP) == 1)
    assert emu.faults.count("editMessageText") == 1


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'"an update"',
        b'{"message": {"text": "no update_id"}}',
        b'{"update_id": "7"}',
        b'{"update_id": true}',
        b'{"update_id": 0}',
        b'{"update_id": 99999999999999999999999}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=["text", "not-utf8", "list", "string", "no-id", "id-string", "id-bool", "id-zero", "id-huge", "deep"],
)
async def test_a_webhook_body_that_is_not_an_update_is_refused_with_400(hooked: RunningShop, body: bytes) -> None:
    url = hooked.web_url + hooked.settings.webhook_path
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as client, client.post(url, data=body, headers=headers) as answer:
        assert answer.status == 400
    assert await rejected_rows(hooked) == []
