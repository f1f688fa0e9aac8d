"""At start the bot introduces itself: the command menu "/" shows (everyone's in English and Chinese, the admins'
in each admin's chat), and its descriptions in both languages; /help lists the same commands. None of it is needed to
take payments: Telegram refusing it stops nothing."""

from __future__ import annotations

import logging
import time

import pytest
from telegram import Bot, BotCommandScopeChat
from telegram.error import BadRequest

from bot.runtime import INTRODUCTION_WAIT_SECONDS, Runtime
from emulator import BotApiEmulator
from emulator.faults import server_error, telegram_error, timeout
from tests.harness import BOT_USERNAME, RunningShop, running_shop

PEOPLE = ["my", "requests", "paysupport", "terms", "language", "help", "whoami"]
ADMINS = ["newlink", "orders", "order", "stats", "refund", "cancel", "export", "providers", "apikey"]
INTRODUCTION = ("setMyCommands", "setMyDescription", "setMyShortDescription")


def bot_of(shop: RunningShop) -> Bot:
    assert shop.runtime is not None
    return shop.runtime.application.bot


async def introduced(shop: RunningShop, *, starts: int = 1) -> None:
    """Until the introduction made at start is done (its last call is the Chinese short description)."""
    await shop.emu.wait_for(lambda: len(shop.emu.calls_to("setMyShortDescription")) == 2 * starts)


async def test_the_menus_and_descriptions_are_set_at_start_in_both_languages(shop: RunningShop) -> None:
    await introduced(shop)
    bot = bot_of(shop)

    english = await bot.get_my_commands()
    assert [c.command for c in english] == PEOPLE
    assert {c.command: c.description for c in english}["my"] == "your orders and payments"
    chinese = await bot.get_my_commands(language_code="zh")
    assert [c.command for c in chinese] == PEOPLE
    assert {c.command: c.description for c in chinese}["my"] == "我的订单和付款记录"

    assert "Bean There takes payments in this chat" in (await bot.get_my_description()).description
    assert "Bean There 在这个聊天中收款" in (await bot.get_my_description(language_code="zh")).description
    assert (await bot.get_my_short_description()).short_description.startswith("Bean There: pay in this chat")
    assert (await bot.get_my_short_description(language_code="zh")).short_description.startswith("Bean There：")


async def test_an_admin_gets_the_admin_commands_in_their_own_chat(
    shop: RunningShop, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="handlers.introduction")
    emu, admin = shop.emu, shop.admin
    await shop.restart()  # a start whose log this test captures
    scope = BotCommandScopeChat(admin.id)
    # Ada never started the bot: Telegram refused her menu at start, and nothing is wrong. Her /start sets it.
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot_of(shop).get_my_commands(scope=scope)
    assert f"admin {admin.id} has not started the bot yet" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    await emu.send_text(admin, "/start")
    await emu.next_bot_message(admin)
    await emu.wait_for(lambda: len(emu.world.commands) == 4)  # everyone's and hers, in English and Chinese
    bot = bot_of(shop)
    assert [c.command for c in await bot.get_my_commands(scope=scope)] == PEOPLE + ADMINS
    zh = {c.command: c.description for c in await bot.get_my_commands(scope=scope, language_code="zh")}
    assert list(zh) == PEOPLE + ADMINS and zh["refund"] == "为订单退款"

    # From the next start on, her menu is set with everyone's.
    emu.world.commands.clear()
    await shop.restart()
    await introduced(shop, starts=3)
    assert [c.command for c in await bot_of(shop).get_my_commands(scope=scope)] == PEOPLE + ADMINS
    # Someone else's chat has no menu of its own: they see everyone's.
    await emu.send_text(shop.alice, "/help")
    await emu.next_bot_message(shop.alice)
    assert await bot_of(shop).get_my_commands(scope=BotCommandScopeChat(shop.alice.id)) == ()


async def test_help_lists_the_commands_of_the_menu_and_the_admins_only_to_admins(shop: RunningShop) -> None:
    emu = shop.emu
    await introduced(shop)
    await emu.send_text(shop.alice, "/help")
    alices = (await emu.next_bot_message(shop.alice))["text"]
    for command in await bot_of(shop).get_my_commands():
        assert f"/{command.command} - {command.description}" in alices
    assert "/newlink" not in alices and "/refund" not in alices and "admins" not in alices

    await emu.send_text(shop.admin, "/help")
    adas = (await emu.next_bot_message(shop.admin))["text"]
    assert "/my - your orders and payments" in adas and "For the shop's admins" in adas
    assert "/newlink - create a checkout link" in adas and "/refund - give money back for an order" in adas

    carol = emu.add_user("Carol", language_code="zh-hans")
    await emu.send_text(carol, "/help")
    assert "/paysupport - 付款遇到问题时求助" in (await emu.next_bot_message(carol))["text"]


async def test_a_bot_api_that_refuses_the_introduction_stops_nothing(
    database_url: str, unused_tcp_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="handlers.introduction")
    async with BotApiEmulator(token="123456:TEST-daifu", bot_username=BOT_USERNAME, bot_name="daifu") as emu:
        emu.faults.fail("setMyCommands", fault=server_error(502))
        emu.faults.fail("setMyDescription", fault=telegram_error(400, "Bad Request: BOT_DESCRIPTION_INVALID"))
        emu.faults.fail("setMyShortDescription", fault=server_error(500), times=1)
        shop = RunningShop(emu, database_url, unused_tcp_port)
        await shop.start()
        try:
            await introduced(shop)
            await emu.send_text(shop.alice, "/help")
            assert "/my - your orders and payments" in (await emu.next_bot_message(shop.alice))["text"]
            # Each call was made once (PTB does not retry), and the ones after a failure all the same.
            assert len(emu.calls_to("setMyDescription")) == 2
            assert emu.world.commands == {} and emu.world.descriptions == {}
            assert list(emu.world.short_descriptions) == ["zh"]  # the first failed, the second went through
            warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
            assert any("could not set the command menu (default)" in line for line in warned)
            assert any("could not set the description (zh): bot_description_invalid" in line.lower() for line in warned)
            assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        finally:
            await shop.stop()


async def test_a_long_shop_name_is_clipped_to_telegrams_limits(database_url: str, unused_tcp_port: int) -> None:
    async with running_shop(database_url, unused_tcp_port, shop_name="The Very Long Name of a Shop " * 20) as shop:
        await introduced(shop)
        for language_code in (None, "zh"):
            about = (await bot_of(shop).get_my_description(language_code=language_code)).description
            short = (await bot_of(shop).get_my_short_description(language_code=language_code)).short_description
            assert len(about) == 512 and len(short) == 120 and short.startswith("The Very Long Name")


async def test_a_bot_api_slow_to_take_the_introduction_does_not_hold_up_the_start(
    database_url: str, unused_tcp_port: int
) -> None:
    async with BotApiEmulator(token="123456:TEST-daifu", bot_username=BOT_USERNAME, bot_name="daifu") as emu:
        emu.faults.fail("setMyCommands", fault=timeout(30))
        shop = RunningShop(emu, database_url, unused_tcp_port)
        began = time.monotonic()
        shop.runtime = await Runtime.assemble(shop.settings)
        try:
            await shop.runtime.start(poll_timeout=1)
            assert time.monotonic() - began < INTRODUCTION_WAIT_SECONDS + 3
            assert shop.runtime.introduction is not None and not shop.runtime.introduction.done()  # still trying
            await emu.send_text(shop.alice, "/help")
            assert "/my - your orders and payments" in (await emu.next_bot_message(shop.alice))["text"]
        finally:
            await shop.stop()
