"""/paysupport: how to reach the shop about a payment, the person's recent payments to quote, and the admins told,
once in a while however often someone asks; /terms: the shop's terms, as its settings give them."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from bot.settings import Settings
from emulator.state import User
from tests.flows.payforme_steps import open_order
from tests.harness import RunningShop, running_shop


async def pay(shop: RunningShop, person: User, command: str) -> str:
    """The person pays a new order in the sandbox; returns its token."""
    token = await shop.new_link(command)
    card = await open_order(shop, person, token)
    await shop.emu.click(person, card, "sandbox")
    page = await shop.emu.click(person, await shop.emu.next_bot_message(person), "Open checkout page")
    assert (await shop.post(page, data={"decision": "pay"}))[0] == 200
    await shop.told(person, "Payment received")
    return token


async def ask(shop: RunningShop, person: User) -> dict[str, Any]:
    await shop.emu.send_text(person, "/paysupport")
    return await shop.emu.next_bot_message(person)


async def test_someone_without_payments_is_told_so_and_the_admins_hear_once(shop: RunningShop) -> None:
    emu, alice, admin = shop.emu, shop.alice, shop.admin
    await ask(shop, admin)  # Ada starts the bot (an admin can ask too), so that it can write to her
    answer = await ask(shop, alice)
    assert "You have made no payments here yet." in answer["text"] and answer.get("reply_markup") is None
    assert "The shop's admins have been told you asked" in answer["text"]
    note = await shop.told(admin, "Alice")
    assert "asks for help with a payment" in note["text"] and f"Alice ({alice.id}, @alice)" in note["text"]
    assert any(entity.get("url") == f"tg://user?id={alice.id}" for entity in note.get("entities", []))

    # Asking again (and again) is answered, and the admins are not told again for a while.
    for _ in range(3):
        assert "already know you asked" in (await ask(shop, alice))["text"]
    await shop.all_told()
    assert shop.times_told(admin, f"Alice ({alice.id}") == 1
    # Someone else asking is told of all the same.
    await ask(shop, shop.bob)
    await shop.told(admin, "Bob")
    assert shop.times_told(admin, "asks for help with a payment") == 3
    # Nothing refused but Ada's own menu at start (she had not started the bot yet).
    assert [error for error in emu.errors if error[0] != "setMyCommands"] == []


async def test_recent_payments_are_listed_and_one_can_be_quoted_to_the_admins(shop: RunningShop) -> None:
    emu, bob, admin = shop.emu, shop.bob, shop.admin
    tea = await pay(shop, bob, "/newlink 4 USD Tea")
    await pay(shop, bob, "/newlink 2.50 USD Biscuits")

    answer = await ask(shop, bob)
    text = answer["text"]
    tea_order = await shop.daifu.orders.by_token(tea)
    assert tea_order is not None
    # Named by number, as the admins read it; the token is only in /order.
    assert "Your recent payments" in text and f"order #{tea_order.id} · Tea · $4.00, paid · " in text
    assert tea not in text
    assert text.index("Biscuits") < text.index("Tea")  # newest first
    assert "$4.00" in text and "$2.50" in text
    assert [row[0]["text"] for row in answer["reply_markup"]["inline_keyboard"]] == ["Biscuits · $2.50", "Tea · $4.00"]
    await shop.told(admin, "Bob")

    await emu.click(bob, answer, "Tea · $4.00")
    told = await shop.told(bob, "have the details of your payment")
    assert f"order #{tea_order.id} · Tea · $4.00, paid" in told["text"] and tea not in told["text"]
    note = await shop.told(admin, "About order #")
    assert " · Tea · $4.00: $4.00 via sandbox on" in note["text"] and tea not in note["text"]
    number = note["text"].split("About order #", 1)[1].split(" ", 1)[0]
    assert f"Its whole story: /order {number}" in note["text"]

    # The same payment quoted again soon tells the admins nothing new.
    await emu.click(bob, answer, "Tea · $4.00")
    await shop.told(bob, "already have the details of your payment")
    await shop.all_told()
    assert shop.times_told(admin, "About order #") == 1


async def test_a_payment_that_is_not_yours_cannot_be_quoted(shop: RunningShop) -> None:
    emu, bob, carol = shop.emu, shop.bob, shop.carol
    await pay(shop, bob, "/newlink 4 USD Tea")
    bobs = await ask(shop, bob)
    button = copy.deepcopy(bobs["reply_markup"]["inline_keyboard"][0][0])
    # Carol taps a button forged with Bob's payment on a message of her own.
    carols = copy.deepcopy(await ask(shop, carol))
    carols["reply_markup"] = {"inline_keyboard": [[button]]}
    await emu.click(carol, carols, button["text"], as_shown=True)
    await shop.told(carol, "That payment is not one of yours.")
    await shop.all_told()
    assert shop.times_told(shop.admin, "About order #") == 0


async def test_the_shops_contact_in_chinese_and_not_in_a_group(database_url: str, unused_tcp_port: int) -> None:
    async with running_shop(database_url, unused_tcp_port, support_contact="@bean_support") as shop:
        emu = shop.emu
        answer = await ask(shop, shop.alice)
        assert "To reach Bean There about a payment, write to @bean_support." in answer["text"]

        wang = emu.add_user("Wang", language_code="zh-hans")
        answer = await ask(shop, wang)
        assert (
            "付款求助" in answer["text"]
            and "@bean_support" in answer["text"]
            and "你在这里还没有付过款" in answer["text"]
        )

        group = emu.add_group("Friends", members=[shop.alice, shop.bob])
        await emu.send_text(shop.bob, "/paysupport", chat=group)
        assert "in a private chat" in (await emu.next_bot_message(group))["text"]


async def test_a_shop_without_terms_says_so(shop: RunningShop) -> None:
    await shop.emu.send_text(shop.alice, "/terms")
    assert (await shop.emu.next_bot_message(shop.alice))["text"] == (
        "Bean There has not published terms. Ask the shop if you need them."
    )


async def test_terms_as_text_then_link(database_url: str, unused_tcp_port: int) -> None:
    terms = {
        "terms_text": "No refunds after 30 days.\nPrices <include> tax.",
        "terms_url": "https://bean.example/terms",
    }
    async with running_shop(database_url, unused_tcp_port, **terms) as shop:
        await shop.emu.send_text(shop.alice, "/terms")
        told = (await shop.emu.next_bot_message(shop.alice))["text"]
        assert told == (
            "Terms of Bean There\n\nNo refunds after 30 days.\nPrices <include> tax.\n\n"
            "The full terms: https://bean.example/terms"
        )
        carol = shop.emu.add_user("Carol", language_code="zh-hans")
        await shop.emu.send_text(carol, "/terms")
        assert "完整条款：https://bean.example/terms" in (await shop.emu.next_bot_message(carol))["text"]


def test_terms_settings_that_could_not_be_shown_stop_the_start() -> None:
    with pytest.raises(ValidationError, match="must be a web address"):
        Settings(_env_file=None, terms_url="bean.example/terms")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="at most 3500 characters"):
        Settings(_env_file=None, terms_text="x" * 3501)  # type: ignore[call-arg]
    assert Settings(_env_file=None, terms_url=" https://bean.example/terms ").terms_url == "https://bean.example/terms"  # type: ignore[call-arg]
