"""The bot's Bot API transport (aiohttp under PTB's request interface): slow and unreachable servers surface
as PTB's own TimedOut and NetworkError, which PTB and daifu's error handler already know how to treat."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import NetworkError, TimedOut

from bot.bot_api_transport import AiohttpBotRequest
from tests.ports import free_port, served

TOKEN = "123456:TEST-transport"


@pytest.fixture
async def slow_api() -> AsyncIterator[str]:
    released = asyncio.Event()

    async def never_answers(request: web.Request) -> web.Response:
        await released.wait()  # until the test is over
        return web.json_response({"ok": True, "result": True})

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", never_answers)
    async with served(app) as base:
        try:
            yield f"{base}/bot"
        finally:
            released.set()  # before the server stops, which waits for the answers on their way


async def test_a_bot_api_that_does_not_answer_times_out_within_the_read_timeout(slow_api: str) -> None:
    request = AiohttpBotRequest(read_timeout=0.5)
    bot = Bot(TOKEN, base_url=slow_api, request=request)
    await request.initialize()
    try:
        began = time.monotonic()
        with pytest.raises(TimedOut):
            await bot.send_message(1, "hello")
        assert time.monotonic() - began < 5
    finally:
        await request.shutdown()


async def test_an_unreachable_bot_api_is_a_network_error() -> None:
    request = AiohttpBotRequest()
    bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{free_port()}/bot", request=request)
    await request.initialize()
    try:
        with pytest.raises(NetworkError):
            await bot.send_message(1, "hello")
    finally:
        await request.shutdown()


async def test_calls_go_as_json_bodies_with_nested_objects_and_text_as_written() -> None:
    received: list[tuple[str, object]] = []

    async def record(request: web.Request) -> web.Response:
        received.append((request.content_type, await request.json()))
        message = {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}, "text": "x"}
        return web.json_response({"ok": True, "result": message})

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", record)
    async with served(app) as base:
        request = AiohttpBotRequest()
        bot = Bot(TOKEN, base_url=f"{base}/bot", request=request)
        await request.initialize()
        try:
            markup = InlineKeyboardMarkup([[InlineKeyboardButton("Pay for 小明", url="https://t.me/x?start=r_1")]])
            await bot.send_message(42, "请帮我付 🙏", reply_markup=markup, disable_notification=True)
        finally:
            await request.shutdown()
    assert received == [
        (
            "application/json",
            {
                "chat_id": 42,
                "text": "请帮我付 🙏",
                "disable_notification": True,
                "reply_markup": {"inline_keyboard": [[{"text": "Pay for 小明", "url": "https://t.me/x?start=r_1"}]]},
            },
        )
    ]
