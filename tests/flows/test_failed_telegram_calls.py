"""A Telegram call that fails loses no work: /newlink still hands over its link, a guided step whose tidying edit
fails is still taken, a repeated command makes one order; and nothing sent to the bot goes unanswered."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import func, select

from emulator import server
from emulator.errors import ApiError, NoAnswer
from emulator.params import Params
from emulator.state import User, World
from storage.models import ConversationFlow, Order, PayRequest
from tests.flows.payforme_steps import ask_friend, current, open_order, open_request
from tests.harness import BOT_USERNAME, RunningShop

LINK = f"https://t.me/{BOT_USERNAME}?start="
NOT_MODIFIED = ApiError(
    400,
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message",
)


def failing(monkeypatch: pytest.MonkeyPatch, method: str, error: ApiError) -> list[dict[str, Any]]:
    """The emulator answers every call of this Bot API method with this error (Telegram having a bad moment);
    returns the refused calls' parameters as they come. Local to these tests: the emulator itself stays honest."""
    refused: list[dict[str, Any]] = []

    async def refuse(_world: World, params: Params) -> Any:
        refused.append(params.as_dict())
        raise error

    name, _method = server._BY_LOWER_NAME[method.lower()]
    monkeypatch.setitem(server._BY_LOWER_NAME, method.lower(), (name, refuse))
    return refused


async def order_count(shop: RunningShop) -> int:
    async with shop.daifu.db.transaction() as session:
        return (await session.exec(select(func.count()).select_from(Order))).one()


def link_in(message: dict[str, Any]) -> str:
    words = message.get("text", message.get("caption", ""))
    return words.split(LINK, 1)[1].split()[0]


async def pay_by_sandbox(shop: RunningShop, friend: User, request: str) -> None:
    emu = shop.emu
    await emu.click(friend, await open_request(shop, friend, request), "sandbox")
    page = await emu.click(friend, await shop.told(friend, "Open the checkout page"), "Open checkout page")
    await shop.post(page, data={"decision": "pay"})


async def guided_to_confirmation(shop: RunningShop) -> dict[str, Any]:
    emu, admin = shop.emu, shop.admin
    await emu.send_text(admin, "/newlink")
    await emu.next_bot_message(admin)
    await emu.send_text(admin, "4.20")
    await emu.click(admin, await emu.next_bot_message(admin), "USD")
    await emu.next_bot_message(admin)
    await emu.send_text(admin, "Oat latte")
    return await emu.next_bot_message(admin)


async def test_newlink_hands_over_its_links_as_text_when_the_qr_photo_cannot_be_sent(
    shop: RunningShop, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu, admin = shop.emu, shop.admin
    refused = failing(monkeypatch, "sendPhoto", ApiError(502, "Bad Gateway"))

    await emu.send_text(admin, "/newlink 12.50 USD Coffee beans")
    link = await shop.told(admin, "New checkout link")

    assert refused  # the photo was tried
    token = link_in(link)
    assert f"{shop.web_url}/o/{token}" in link["text"] and "Coffee beans" in link["text"]
    assert shop.times_told(admin, "something went wrong") == 0
    assert await order_count(shop) == 1
    # The link works: a shopper opening it sees the order.
    assert "Coffee beans" in (await open_order(shop, shop.alice, token))["text"]


async def test_the_same_newlink_message_handled_again_makes_no_second_order(shop: RunningShop) -> None:
    emu, admin = shop.emu, shop.admin
    command = await emu.send_text(admin, "/newlink 3 USD Tea")
    first = await shop.told(admin, "New checkout link")

    # The same message once more, as a Bot API server that redelivers it (or the recovery of a worker that died
    # before its done mark) hands it over: the order it made, with its link again, and no second order.
    emu.world.deliver("message", command)
    await emu.wait_for(lambda: shop.times_told(admin, "New checkout link") == 2)

    assert await order_count(shop) == 1
    second = emu.bot_messages(admin)[-1]
    assert link_in(second) == link_in(first)
    # A new message with the same words is a new order, as the admin meant.
    await shop.new_link("/newlink 3 USD Tea")
    assert await order_count(shop) == 2


async def test_a_confirmation_whose_buttons_cannot_be_removed_still_makes_its_one_order(
    shop: RunningShop, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu, admin = shop.emu, shop.admin
    confirm = await guided_to_confirmation(shop)
    failing(monkeypatch, "editMessageReplyMarkup", ApiError(500, "Internal Server Error"))

    answer = await emu.click(admin, confirm, "Create link")
    link = await shop.told(admin, "New checkout link")

    assert not answer.get("show_alert")
    assert "Oat latte" in link["caption"] and "$4.20" in link["caption"]
    assert await order_count(shop) == 1
    async with shop.daifu.db.transaction() as session:
        assert (await session.exec(select(ConversationFlow))).first() is None  # the step was taken
    assert shop.times_told(admin, "something went wrong") == 0

    # The button is still there (the edit failed): tapped again, it hands over the same link, no second order.
    await emu.click(admin, confirm, "Create link")
    await emu.wait_for(lambda: shop.times_told(admin, "New checkout link") == 2)
    assert link_in(emu.bot_messages(admin)[-1]) == link_in(link)
    assert await order_count(shop) == 1


async def test_a_cancel_whose_edit_is_refused_as_unchanged_still_cancels(
    shop: RunningShop, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu, admin = shop.emu, shop.admin
    confirm = await guided_to_confirmation(shop)
    failing(monkeypatch, "editMessageReplyMarkup", NOT_MODIFIED)

    await emu.click(admin, confirm, "Cancel")
    await shop.told(admin, "Cancelled. No link was created.")
    answer = await emu.click(admin, confirm, "Create link")

    assert "out of date" in answer["text"]
    assert await order_count(shop) == 0
    assert shop.times_told(admin, "something went wrong") == 0


async def test_skipping_the_note_makes_the_request_though_the_edit_fails(
    shop: RunningShop, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu, alice = shop.emu, shop.alice
    token = await shop.new_link("/newlink 5 USD Tea")
    card = await open_order(shop, alice, token)
    await emu.click(alice, card, "Ask a friend to pay")
    prompt = await shop.told(alice, "Add a note")
    edits = failing(monkeypatch, "editMessageReplyMarkup", ApiError(500, "Internal Server Error"))

    await emu.click(alice, prompt, "Skip")
    await shop.told(alice, "Your request is ready")
    await emu.wait_for(lambda: edits)  # the buttons' removal was tried, after the request was made

    async with shop.daifu.db.transaction() as session:
        assert len((await session.exec(select(PayRequest))).all()) == 1
    assert shop.times_told(alice, "something went wrong") == 0


async def test_own_words_are_asked_for_though_the_tap_cannot_be_answered(
    shop: RunningShop, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu, alice, bob = shop.emu, shop.alice, shop.bob
    request = await ask_friend(shop, alice, await shop.new_link("/newlink 5 USD Tea"))
    await pay_by_sandbox(shop, bob, request)
    paid = await shop.told(alice, "Bob paid for you")
    await emu.click(alice, paid, "Say thanks")
    await emu.wait_for(lambda: "In my own words" in str(current(shop, paid).get("reply_markup")))
    failing(monkeypatch, "answerCallbackQuery", ApiError(502, "Bad Gateway"))

    with pytest.raises(NoAnswer):  # the spinner runs on (the answer failed); the step is taken all the same
        await emu.click(alice, paid, "✏️ In my own words", timeout=1)
    await shop.told(alice, "Write your thank-you to Bob")
    await emu.send_text(alice, "Thanks a lot!")

    thanks = await shop.told(bob, "Alice says")
    assert thanks["text"] == "💌 Alice says: Thanks a lot!"


async def test_a_button_no_handler_knows_is_answered(shop: RunningShop) -> None:
    emu, admin = shop.emu, shop.admin
    await emu.send_text(admin, "/newlink")
    question = await emu.next_bot_message(admin)
    # A button of a version of the bot that is gone, or forged data: shown as the app would show it.
    old = dict(question, reply_markup={"inline_keyboard": [[{"text": "Old", "callback_data": "gone:42"}]]})

    answer = await emu.click(admin, old, "Old", as_shown=True)

    assert answer["text"] == "This button is no longer valid."
    # The guided /newlink goes on: the tap changed nothing.
    await emu.send_text(admin, "7")
    assert "Which currency?" in (await emu.next_bot_message(admin))["text"]


async def test_stray_text_and_unknown_commands_get_a_hint_in_private_and_nothing_in_groups(
    shop: RunningShop,
) -> None:
    emu, alice = shop.emu, shop.alice
    await emu.send_text(alice, "hello?")
    assert (await emu.next_bot_message(alice))["text"] == "I did not understand that. Send /help to see what I can do."
    await emu.send_text(alice, "/pay_me_now")
    assert "/help" in (await emu.next_bot_message(alice))["text"]

    group = emu.add_group("Friends", members=[alice, shop.bob])
    await emu.send_text(alice, "hello everyone", chat=group)
    await emu.send_text(alice, "/pay_me_now", chat=group)
    await emu.send_text(alice, "/help", chat=group)
    await emu.wait_for(lambda: emu.bot_messages(group))
    replies = emu.bot_messages(group)
    assert len(replies) == 1 and "/my - " in replies[0]["text"]  # /help's answer, and nothing for the rest


async def test_chinese_speakers_get_the_hint_in_chinese(shop: RunningShop) -> None:
    emu = shop.emu
    wang = emu.add_user("Wang", language_code="zh-hans")
    await emu.send_text(wang, "你好")
    assert "/help" in (await emu.next_bot_message(wang))["text"]
    assert "我没看懂" in emu.bot_messages(wang)[-1]["text"]
