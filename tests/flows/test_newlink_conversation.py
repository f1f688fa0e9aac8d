"""The guided /newlink conversation: every step, its cancel button, and a restart in the middle."""

from __future__ import annotations

from sqlmodel import func, select

from storage.models import Order
from tests.harness import RunningShop


async def order_count(shop: RunningShop) -> int:
    async with shop.daifu.db.transaction() as session:
        return (await session.exec(select(func.count()).select_from(Order))).one()


async def test_guided_newlink_survives_a_restart_between_steps(shop: RunningShop) -> None:
    emu, admin = shop.emu, shop.admin
    await emu.send_text(admin, "/newlink")
    ask_amount = await emu.next_bot_message(admin)
    assert "What is the amount?" in ask_amount["text"]
    await emu.send_text(admin, "12.5")
    ask_currency = await emu.next_bot_message(admin)
    buttons = [b["text"] for row in ask_currency["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == ["US Dollar (USD)", "Euro (EUR)", "Chinese Yuan (CNY)", "Stars (XTR)", "Cancel"]

    await shop.restart()

    await emu.click(admin, ask_currency, "Euro (EUR)")
    ask_title = await emu.next_bot_message(admin)
    assert "What is it for?" in ask_title["text"]
    await emu.send_text(admin, "Tea   for two")
    confirm = await emu.next_bot_message(admin)
    assert "Tea for two" in confirm["text"] and "€12.50" in confirm["text"]
    await emu.click(admin, confirm, "Create link")
    link = await shop.told(admin, "New checkout link")

    assert "Tea for two" in link["caption"] and "€12.50" in link["caption"]
    [upload] = [params["photo"] for params in emu.calls_to("sendPhoto")]
    assert (upload["filename"], upload["content_type"]) == ("qr.png", "image/png")  # named and typed, as Telegram asks
    async with shop.daifu.db.transaction() as session:
        order = (await session.exec(select(Order))).one()
    assert (order.amount_minor, order.currency, order.title, order.created_by) == (1250, "EUR", "Tea for two", admin.id)


async def test_each_step_refuses_bad_input_and_asks_again(shop: RunningShop) -> None:
    emu, admin = shop.emu, shop.admin
    await emu.send_text(admin, "/newlink")
    await emu.next_bot_message(admin)
    await emu.send_text(admin, "twelve")
    assert "not an amount" in (await emu.next_bot_message(admin))["text"]
    await emu.send_text(admin, "-3")
    assert "more than zero" in (await emu.next_bot_message(admin))["text"]
    await emu.send_text(admin, "12.505")
    await emu.next_bot_message(admin)  # which currency?
    await emu.send_text(admin, "usd")  # typed rather than tapped: three decimals do not fit USD
    assert "US Dollar (USD) does not have that many decimal places" in (await emu.next_bot_message(admin))["text"]
    assert "Send the amount again" in (await emu.next_bot_message(admin))["text"]
    await emu.send_text(admin, "12.50")
    await emu.next_bot_message(admin)
    await emu.send_text(admin, "Dollars")
    assert "not a currency I know" in (await emu.next_bot_message(admin))["text"]
    await emu.send_text(admin, "jpy")
    assert "Japanese Yen (JPY) does not have that many decimal places" in (await emu.next_bot_message(admin))["text"]
    assert await order_count(shop) == 0


async def test_cancel_ends_the_conversation_without_an_order(shop: RunningShop) -> None:
    emu, admin = shop.emu, shop.admin
    await emu.send_text(admin, "/newlink")
    ask_amount = await emu.next_bot_message(admin)
    await emu.send_text(admin, "5")
    ask_currency = await emu.next_bot_message(admin)
    await emu.click(admin, ask_currency, "Cancel")
    await shop.told(admin, "Cancelled. No link was created.")

    # The conversation is over: the Cancel button left on an earlier step is out of date, and plain
    # text no longer feeds a draft.
    answer = await emu.click(admin, ask_amount, "Cancel")
    assert "out of date" in answer["text"] and answer["show_alert"]
    await emu.send_text(admin, "Tea")
    await emu.send_text(admin, "/help")
    await shop.told(admin, "/my")
    assert await order_count(shop) == 0


async def test_strangers_cannot_create_links(shop: RunningShop) -> None:
    emu = shop.emu
    await emu.send_text(shop.alice, "/newlink 5 USD Free money")
    assert "only the shop's admins" in (await emu.next_bot_message(shop.alice))["text"]
    await emu.send_text(shop.alice, "/newlink")
    assert "only the shop's admins" in (await emu.next_bot_message(shop.alice))["text"]
    assert await order_count(shop) == 0


async def test_amounts_are_read_as_written(shop: RunningShop) -> None:
    emu, admin = shop.emu, shop.admin
    await emu.send_text(admin, "/newlink")
    await emu.next_bot_message(admin)
    await emu.send_text(admin, "1,50")  # in English the comma groups thousands: 150 or 1.50?
    refusal = await emu.next_bot_message(admin)
    assert "Did you mean 1.50?" in refusal["text"]
    assert [b["text"] for row in refusal["reply_markup"]["inline_keyboard"] for b in row] == ["Cancel"]
    await emu.send_text(admin, "€1,500")  # the symbol names the currency: no currency step
    ask_title = await emu.next_bot_message(admin)
    assert "What is it for?" in ask_title["text"]
    await emu.send_text(admin, "Espresso machine")
    confirm = await emu.next_bot_message(admin)
    assert "€1,500.00" in confirm["text"]
    await emu.click(admin, confirm, "Create link")
    await shop.told(admin, "New checkout link")
    async with shop.daifu.db.transaction() as session:
        order = (await session.exec(select(Order))).one()
    assert (order.amount_minor, order.currency) == (150000, "EUR")


async def test_the_one_line_newlink_reads_symbols_and_refuses_contradictions(shop: RunningShop) -> None:
    emu, admin = shop.emu, shop.admin
    await emu.send_text(admin, "/newlink $5 USD Tea")
    await shop.told(admin, "New checkout link")
    before = shop.last_message_id(admin)
    await emu.send_text(admin, "/newlink €5 USD Tea")
    await shop.told(admin, "This amount is in US Dollar (USD), not €", after=before)
    await emu.send_text(admin, "/newlink $2.50 Green tea")  # the symbol names the currency
    link = await shop.told(admin, "New checkout link", after=before)
    assert "Green tea" in link["caption"] and "$2.50" in link["caption"]
    assert await order_count(shop) == 2


async def test_every_step_can_be_cancelled(shop: RunningShop) -> None:
    emu, admin = shop.emu, shop.admin
    steps = [[], ["5"], ["5", "USD"], ["5", "USD", "Tea"]]
    for answers in steps:
        await emu.send_text(admin, "/newlink")
        prompt = await emu.next_bot_message(admin)
        for answer in answers:
            await emu.send_text(admin, answer)
            prompt = await emu.next_bot_message(admin)
        assert prompt["reply_markup"]["inline_keyboard"][-1][0]["text"] == "Cancel"
        await emu.click(admin, prompt, "Cancel")
        await shop.told(admin, "Cancelled. No link was created.")
    # /cancel does the same at any step
    await emu.send_text(admin, "/newlink")
    await emu.next_bot_message(admin)
    await emu.send_text(admin, "5")
    await emu.next_bot_message(admin)
    before = shop.last_message_id(admin)
    await emu.send_text(admin, "/cancel")
    await shop.told(admin, "Cancelled. No link was created.", after=before)
    await emu.send_text(admin, "USD")
    await shop.told(admin, "/help", after=before)
    assert await order_count(shop) == 0
