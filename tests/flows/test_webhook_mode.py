"""Webhook mode: Telegram POSTs updates to daifu's web server; the secret is enforced, each update is
applied once however often it arrives, and one a crashed worker never finished is handled after a restart."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest

from storage.models import OrderStatus, TelegramUpdate, utcnow
from tests.harness import BOT_USERNAME, RunningShop, running_shop

SECRET = "webhook-secret_123"


@pytest.fixture
async def hooked(database_url: str, unused_tcp_port: int) -> AsyncIterator[RunningShop]:
    async with running_shop(database_url, unused_tcp_port, run_mode="webhook", webhook_secret=SECRET) as shop:
        yield shop


def webhook_url(shop: RunningShop) -> str:
    return shop.web_url + shop.settings.webhook_path


async def test_the_bot_registers_its_webhook_and_pays_orders_through_it(hooked: RunningShop) -> None:
    shop, emu = hooked, hooked.emu
    assert emu.world.webhook is not None
    assert emu.world.webhook["url"] == webhook_url(shop) and emu.world.webhook["secret_token"] == SECRET
    assert "pre_checkout_query" in emu.calls_to("setWebhook")[0]["allowed_updates"]

    token = await shop.new_link("/newlink 12.50 USD Coffee beans")
    await emu.open_link(shop.alice, f"https://t.me/{BOT_USERNAME}?start={token}")
    await emu.click(shop.alice, await emu.next_bot_message(shop.alice), "Pay by card")
    await emu.pay_invoice(shop.alice, await emu.next_bot_message(shop.alice))
    await shop.told(shop.alice, "Payment received")
    assert not emu.calls_to("getUpdates")  # nothing polls in webhook mode


@pytest.mark.parametrize("secret", [None, "wrong-secret", SECRET + "x"])
async def test_requests_without_the_right_secret_are_refused(hooked: RunningShop, secret: str | None) -> None:
    update = {"update_id": 999_999, "message": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}}}
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
    async with (
        aiohttp.ClientSession() as client,
        client.post(webhook_url(hooked), json=update, headers=headers) as answer,
    ):
        assert answer.status == 403
    async with hooked.daifu.db.transaction() as session:
        stored = await session.get(TelegramUpdate, 999_999)
    assert stored is None


async def test_an_update_delivered_twice_is_applied_once(hooked: RunningShop) -> None:
    shop, emu = hooked, hooked.emu
    token = await shop.new_link("/newlink 50 XTR Sticker pack")
    await emu.open_link(shop.alice, f"https://t.me/{BOT_USERNAME}?start={token}")
    await emu.click(shop.alice, await emu.next_bot_message(shop.alice), "Stars")
    await emu.pay_invoice(shop.alice, await emu.next_bot_message(shop.alice))
    await shop.told(shop.alice, "Payment received")
    paid = next(u for u in emu.webhooks.delivered if "successful_payment" in u.get("message", {}))

    assert await emu.webhooks.post(paid)  # Telegram retries after a time-out: answered 200 again
    await emu.send_text(shop.alice, "/help")
    await shop.told(shop.alice, "/my")
    assert shop.times_told(shop.alice, "Payment received") == 1
    order = await shop.daifu.orders.by_token(token)
    assert order is not None and order.status == OrderStatus.PAID


async def test_a_pre_checkout_query_is_answered_without_being_written_down_and_again_if_delivered_again(
    hooked: RunningShop, caplog: pytest.LogCaptureFixture
) -> None:
    shop, emu = hooked, hooked.emu
    caplog.set_level(logging.INFO, logger="handlers")
    token = await shop.new_link("/newlink 50 XTR Sticker pack")
    await emu.open_link(shop.alice, f"https://t.me/{BOT_USERNAME}?start={token}")
    await emu.click(shop.alice, await emu.next_bot_message(shop.alice), "Stars")
    await emu.pay_invoice(shop.alice, await emu.next_bot_message(shop.alice))
    await shop.told(shop.alice, "Payment received")
    query = next(u for u in emu.webhooks.delivered if "pre_checkout_query" in u)
    async with shop.daifu.db.transaction() as session:
        assert await session.get(TelegramUpdate, query["update_id"]) is None

    answers = len(emu.calls_to("answerPreCheckoutQuery"))
    assert await emu.webhooks.post(query)  # delivered again: answered again (the order is paid now), nothing moves
    await emu.wait_for(lambda: len(emu.calls_to("answerPreCheckoutQuery")) > answers)
    again = emu.calls_to("answerPreCheckoutQuery")[-1]
    assert again["ok"] is False and "already paid" in again["error_message"]
    # Telegram refuses a second answer to one query: expected here, so no error is logged, nobody is told.
    await emu.wait_for(lambda: any("answered already" in r.getMessage() for r in caplog.records))
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert shop.times_told(shop.alice, "Payment received") == 1
    order = await shop.daifu.orders.by_token(token)
    assert order is not None and order.status == OrderStatus.PAID


async def test_an_update_a_crashed_worker_never_finished_is_handled_after_restart(hooked: RunningShop) -> None:
    shop = hooked
    update = {
        "update_id": 424242,
        "message": {
            "message_id": 77,
            "date": 0,
            "from": {"id": shop.alice.id, "is_bot": False, "first_name": "Alice"},
            "chat": {"id": shop.alice.id, "type": "private", "first_name": "Alice"},
            "text": "/help",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        },
    }
    await shop.emu.send_text(shop.alice, "/language")  # Alice has a chat with the bot
    await shop.stop()
    async with shop.daifu_db() as db, db.transaction() as session:
        # What a worker leaves behind when it is killed between receiving an update and finishing it.
        session.add(
            TelegramUpdate(update_id=424242, payload=json.dumps(update), received_at=utcnow() - timedelta(minutes=5))
        )
    await shop.start()

    await shop.told(shop.alice, "/my")
    for _ in range(50):  # it is marked done right after its handler ran
        async with shop.daifu.db.transaction() as session:
            row = await session.get(TelegramUpdate, 424242)
        if row is not None and row.done_at is not None:
            break
        await asyncio.sleep(0.1)
    assert row is not None and row.done_at is not None
