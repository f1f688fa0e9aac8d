"""/my lists a person's orders with receipts and links, page by page; /language switches to Chinese."""

from __future__ import annotations

from tests.harness import BOT_USERNAME, RunningShop


async def test_my_orders_shows_receipts_and_open_links(shop: RunningShop) -> None:
    emu = shop.emu
    paid = await shop.new_link("/newlink 12.50 USD Coffee beans")
    open_ = await shop.new_link("/newlink 3 EUR Croissant")
    await emu.open_link(shop.alice, f"https://t.me/{BOT_USERNAME}?start={paid}")
    await emu.click(shop.alice, await emu.next_bot_message(shop.alice), "Pay by card")
    await emu.pay_invoice(shop.alice, await emu.next_bot_message(shop.alice))
    await shop.told(shop.alice, "Payment received")
    await emu.open_link(shop.alice, f"https://t.me/{BOT_USERNAME}?start={open_}")
    await emu.click(shop.alice, await emu.next_bot_message(shop.alice), "sandbox")
    await emu.next_bot_message(shop.alice)

    await emu.send_text(shop.alice, "/my")
    listing = (await emu.next_bot_message(shop.alice))["text"]

    croissant, coffee = listing.index("Croissant"), listing.index("Coffee beans")
    assert croissant < coffee  # newest first
    assert "awaiting payment" in listing and f"?start={open_}" in listing
    assert "paid" in listing[coffee:] and "Receipt: $12.50" in listing[coffee:]
    # Bob has nothing to do with either order.
    await emu.send_text(shop.bob, "/my")
    assert "no orders yet" in (await emu.next_bot_message(shop.bob))["text"]


async def test_my_orders_pages(shop: RunningShop) -> None:
    emu = shop.emu
    for number in range(1, 8):
        await shop.new_link(f"/newlink {number} USD Order {number}")
    await emu.send_text(shop.admin, "/my")
    first = await emu.next_bot_message(shop.admin)
    assert "Order 7" in first["text"] and "Order 3" in first["text"] and "Order 2" not in first["text"]
    assert [b["text"] for b in first["reply_markup"]["inline_keyboard"][-1]] == ["Older »"]

    await emu.click(shop.admin, first, "Older »")
    second = await emu.wait_for(lambda: (m := emu.chat_messages(shop.admin)[-1]) and "Order 2" in m["text"] and m)
    assert "Order 1" in second["text"] and "Order 3" not in second["text"]
    assert [b["text"] for b in second["reply_markup"]["inline_keyboard"][-1]] == ["« Newer"]
    # Numbered on from the first page, one button for each order.
    assert [row[0]["text"] for row in second["reply_markup"]["inline_keyboard"][:-1]] == ["6. Order 2", "7. Order 1"]


async def test_language_switches_replies_and_money_format_to_chinese(shop: RunningShop) -> None:
    emu = shop.emu
    token = await shop.new_link("/newlink 12.50 USD Coffee beans")
    await emu.send_text(shop.alice, "/language")
    choice = await emu.next_bot_message(shop.alice)
    await emu.click(shop.alice, choice, "简体中文")
    confirmed = await emu.wait_for(lambda: "简体中文" in emu.chat_messages(shop.alice)[-1].get("text", ""))
    assert confirmed

    await emu.open_link(shop.alice, f"https://t.me/{BOT_USERNAME}?start={token}")
    card = await emu.next_bot_message(shop.alice)
    assert "US$12.50" in card["text"] and "金额" in card["text"]

    # A person whose Telegram app is in Chinese gets Chinese without asking.
    carol = emu.add_user("Carol", language_code="zh-hans")
    await emu.send_text(carol, "/help")
    assert "/my - 我的订单和付款记录" in (await emu.next_bot_message(carol))["text"]
