"""The emulator's faults: chosen Bot API methods fail as told (5xx, time-outs, bodies that are not JSON,
Telegram's own error answers, odd answers), and malformed updates reach the bot as given."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telegram import Bot
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError, TimedOut

from emulator import BotApiEmulator
from emulator.faults import (
    bad_json,
    message_without_date,
    odd_answer,
    server_error,
    telegram_error,
    timeout,
)
from emulator.state import User
from tests.ports import free_port

TOKEN = "123456:TEST"


@pytest.fixture
async def emu() -> AsyncIterator[BotApiEmulator]:
    async with BotApiEmulator(token=TOKEN) as emulator:
        yield emulator


@pytest.fixture
async def bot(emu: BotApiEmulator) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=emu.base_url, base_file_url=emu.base_file_url) as telegram_bot:
        yield telegram_bot


@pytest.fixture
async def alice(emu: BotApiEmulator) -> User:
    person = emu.add_user("Alice")
    await emu.send_text(person, "/start")  # the bot may write to her now
    return person


def said(emu: BotApiEmulator, person: User) -> list[str]:
    return [m["text"] for m in emu.bot_messages(person)]


async def test_a_method_fails_for_the_next_calls_and_a_failed_call_does_nothing(
    emu: BotApiEmulator, bot: Bot, alice: User
) -> None:
    emu.faults.fail("sendMessage", fault=server_error(502), times=2)
    for _ in range(2):
        with pytest.raises(NetworkError, match="Bad Gateway"):
            await bot.send_message(alice.id, "lost")
    await bot.send_message(alice.id, "arrives")
    await bot.send_chat_action(alice.id, "typing")  # other methods were never touched

    assert said(emu, alice) == ["arrives"]
    assert [(i.method, i.params["text"]) for i in emu.faults.injected] == [("sendMessage", "lost")] * 2
    assert [description for method, _params, description in emu.errors] == ["injected: Bad Gateway"] * 2
    assert not emu.faults.rules  # a rule for the next N calls is gone after them


async def test_telegram_style_errors_reach_the_bot_as_telegram_sends_them(
    emu: BotApiEmulator, bot: Bot, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")  # or PTB 22 warns about RetryAfter's type, and warnings fail tests
    sent = await bot.send_message(alice.id, "card")
    emu.faults.fail("editMessageText", fault=telegram_error(400, "Bad Request: message is not modified"), times=1)
    with pytest.raises(BadRequest, match="essage is not modified"):
        await bot.edit_message_text("card, edited", chat_id=alice.id, message_id=sent.message_id)
    emu.faults.fail("sendMessage", fault=telegram_error(429, "Too Many Requests: retry after 7", retry_after=7))
    with pytest.raises(RetryAfter) as flood:
        await bot.send_message(alice.id, "too soon")
    assert flood.value.retry_after == timedelta(seconds=7)
    assert said(emu, alice) == ["card"]


async def test_an_answer_that_is_not_json_is_a_network_error(emu: BotApiEmulator, bot: Bot, alice: User) -> None:
    emu.faults.fail("sendMessage", fault=bad_json(), times=1)
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(alice.id, "lost")
    emu.faults.fail("sendMessage", fault=bad_json(200), times=1)
    with pytest.raises(TelegramError, match="Invalid server response"):
        await bot.send_message(alice.id, "lost too")
    assert said(emu, alice) == []


async def test_a_time_out_either_loses_the_call_or_only_its_answer(emu: BotApiEmulator, bot: Bot, alice: User) -> None:
    emu.faults.fail("sendMessage", fault=timeout(1.0), times=1)
    with pytest.raises(TimedOut):
        await bot.send_message(alice.id, "never sent", read_timeout=0.2)
    emu.faults.fail("sendMessage", fault=timeout(1.0, performed=True), times=1)
    with pytest.raises(TimedOut):
        await bot.send_message(alice.id, "sent, answer lost", read_timeout=0.2)
    assert said(emu, alice) == ["sent, answer lost"]


async def test_an_odd_answer_does_the_work_and_says_something_else(emu: BotApiEmulator, alice: User) -> None:
    async with aiohttp.ClientSession() as http:
        url = f"{emu.base_url}{TOKEN}"
        async with http.post(f"{url}/sendMessage", json={"chat_id": alice.id, "text": "card"}) as answer:
            message_id = (await answer.json())["result"]["message_id"]
        emu.faults.fail("editMessageText", fault=odd_answer(None), times=1)
        edit = {"chat_id": alice.id, "message_id": message_id, "text": "card, edited"}
        async with http.post(f"{url}/editMessageText", json=edit) as answer:
            assert answer.status == 200 and await answer.json() == {"ok": True, "result": None}
    assert said(emu, alice) == ["card, edited"]


async def test_faults_by_probability_follow_the_seed_and_the_condition(
    emu: BotApiEmulator, bot: Bot, alice: User
) -> None:
    bob = emu.add_user("Bob")
    await emu.send_text(bob, "/start")

    async def run(seed: int) -> list[bool]:
        emu.faults.clear()
        emu.faults.reseed(seed)
        emu.faults.fail("sendMessage", probability=0.5, when=lambda params: params["chat_id"] == alice.id)
        outcomes = []
        for number in range(30):
            try:
                await bot.send_message(alice.id, f"try {number}")
                outcomes.append(True)
            except NetworkError:
                outcomes.append(False)
        await bot.send_message(bob.id, "Bob is never failed")
        return outcomes

    first, again, other = await run(7), await run(7), await run(8)
    assert first == again and first != other
    assert 0 < first.count(False) < 30
    assert said(emu, bob) == ["Bob is never failed"] * 3


async def test_a_malformed_update_is_delivered_as_given_by_get_updates(emu: BotApiEmulator, alice: User) -> None:
    await emu.send_text(alice, "/help")
    poison = emu.deliver_raw(message_without_date(alice))
    await emu.send_text(alice, "/my")
    async with aiohttp.ClientSession() as http, http.post(f"{emu.base_url}{TOKEN}/getUpdates") as answer:
        updates = (await answer.json())["result"]
    assert [u.get("message", {}).get("text") for u in updates] == ["/start", "/help", "/help", "/my"]
    assert updates[2] == poison and "date" not in updates[2]["message"]
    assert [u["update_id"] for u in updates] == sorted({u["update_id"] for u in updates})


async def test_a_malformed_update_is_posted_to_the_webhook_as_given(emu: BotApiEmulator, alice: User) -> None:
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(json.loads(await request.read()))
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        emu.world.allow_http_webhooks = True
        async with Bot(TOKEN, base_url=emu.base_url) as bot:
            await bot.set_webhook(f"http://127.0.0.1:{port}/hook")
        poison = emu.deliver_raw(message_without_date(alice))
        await emu.wait_for(lambda: poison in received)
    finally:
        await runner.cleanup()
    assert "date" not in received[-1]["message"]
