"""/whoami tells a person their Telegram user id, which goes in ADMIN_IDS; an admin command from someone who is
not an admin answers with their id and how to become one."""

from __future__ import annotations

from tests.harness import RunningShop


async def test_whoami_tells_a_person_their_id(shop: RunningShop) -> None:
    emu = shop.emu
    await emu.send_text(shop.alice, "/whoami")
    told = (await emu.next_bot_message(shop.alice))["text"]
    assert f"Your Telegram user id is {shop.alice.id}." in told and "ADMIN_IDS" in told

    await emu.send_text(shop.admin, "/whoami")
    told = (await emu.next_bot_message(shop.admin))["text"]
    assert f"Your Telegram user id is {shop.admin.id}." in told and "You are one of this shop's admins." in told


async def test_an_admin_command_from_someone_else_says_their_id(shop: RunningShop) -> None:
    await shop.emu.send_text(shop.bob, "/stats")
    refused = (await shop.emu.next_bot_message(shop.bob))["text"]
    assert refused.startswith("Sorry, only the shop's admins can do that.")
    assert f"Your Telegram user id is {shop.bob.id}." in refused and "ADMIN_IDS" in refused


async def test_whoami_in_chinese_and_in_help(shop: RunningShop) -> None:
    carol = shop.emu.add_user("Carol", language_code="zh-hans")
    await shop.emu.send_text(carol, "/whoami")
    assert f"你的 Telegram 用户 ID 是 {carol.id}。" in (await shop.emu.next_bot_message(carol))["text"]
    await shop.emu.send_text(shop.alice, "/help")
    assert "/whoami - your Telegram user id" in (await shop.emu.next_bot_message(shop.alice))["text"]
