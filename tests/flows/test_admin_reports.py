"""Admin commands that read: /stats, /order, /orders, /export, /providers; strangers are refused."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

from sqlmodel import col, select, update

from emulator.state import User
from presentation.orders_csv import EXPORT_COLUMNS
from services import order_export
from services.money import Money
from services.notices import ReturnReason
from storage.models import ButtonState, CallbackDelivery, Order, OrderEvent, Payment, utcnow
from tests.flows.payforme_steps import ask_friend, open_request
from tests.harness import BOT_USERNAME, RunningShop

REFUSED = "only the shop's admins can do that"


async def say(shop: RunningShop, person: User, text: str) -> dict[str, Any]:
    """The person sends a message; returns the bot's first reply to it."""
    sent = await shop.emu.send_text(person, text)

    def reply() -> dict[str, Any] | None:
        return next((m for m in shop.emu.bot_messages(person) if m["message_id"] > sent["message_id"]), None)

    found: dict[str, Any] = await shop.emu.wait_for(reply)
    return found


async def refused(shop: RunningShop, text: str) -> None:
    """Alice, a shopper, tries an admin command: she is told no."""
    reply = await say(shop, shop.alice, text)
    assert REFUSED in reply["text"], reply


async def pay_on_sandbox(shop: RunningShop, payer: User, token: str) -> None:
    emu = shop.emu
    start, noted = shop.last_message_id(payer), shop.last_message_id(shop.admin)
    await emu.open_link(payer, f"https://t.me/{BOT_USERNAME}?start={token}")
    await emu.click(payer, await emu.next_bot_message(payer), "sandbox")
    page = await emu.click(payer, await emu.next_bot_message(payer), "Open checkout page")
    status, _ = await shop.post(page, data={"decision": "pay"})
    assert status == 200
    await shop.told(payer, "Payment received", after=start)
    await shop.told(shop.admin, f"{payer.first_name} paid", after=noted)


async def pay_by_invoice(shop: RunningShop, payer: User, token: str, method: str) -> dict[str, Any]:
    """Pay with a Telegram invoice: method "Stars" or "Pay by card"; returns the successful payment message."""
    emu = shop.emu
    start, noted = shop.last_message_id(payer), shop.last_message_id(shop.admin)
    await emu.open_link(payer, f"https://t.me/{BOT_USERNAME}?start={token}")
    await emu.click(payer, await emu.next_bot_message(payer), method)
    paid: dict[str, Any] = await emu.pay_invoice(payer, await emu.next_bot_message(payer))
    await shop.told(payer, "Payment received", after=start)
    await shop.told(shop.admin, f"{payer.first_name} paid", after=noted)
    return paid


async def friend_pays_on_sandbox(shop: RunningShop, friend: User, request: str) -> None:
    emu = shop.emu
    start, noted = shop.last_message_id(friend), shop.last_message_id(shop.alice)
    await emu.click(friend, await open_request(shop, friend, request), "sandbox")
    page = await emu.click(friend, await shop.told(friend, "Open the checkout page", after=start), "Open checkout page")
    status, _ = await shop.post(page, data={"decision": "pay"})
    assert status == 200
    # The requester is told last (after the payer and the admins).
    await shop.told(shop.alice, f"{friend.first_name} paid for you", after=noted)


async def order_of(shop: RunningShop, token: str) -> Order:
    order = await shop.daifu.orders.by_token(token)
    assert order is not None and order.id is not None
    return order


async def took(shop: RunningShop, token: str, minutes: int) -> None:
    """Make the order look created this many minutes before it was paid."""
    order = await order_of(shop, token)
    assert order.paid_at is not None
    async with shop.daifu.db.transaction() as session:
        await session.exec(
            update(Order).where(col(Order.id) == order.id).values(created_at=order.paid_at - timedelta(minutes=minutes))
        )


async def charge_of(shop: RunningShop, token: str) -> Payment:
    order = await order_of(shop, token)
    async with shop.daifu.db.transaction() as session:
        return (
            await session.exec(select(Payment).where(Payment.order_id == order.id, col(Payment.credited).is_(True)))
        ).one()


async def test_stats_count_orders_money_friends_refunds_and_providers(shop: RunningShop) -> None:
    daifu = shop.daifu
    coffee = await shop.new_link("/newlink 12.50 USD Coffee beans")
    await pay_on_sandbox(shop, shop.alice, coffee)
    tea = await shop.new_link("/newlink 5 USD Tea")
    await friend_pays_on_sandbox(shop, shop.bob, await ask_friend(shop, shop.alice, tea))
    stickers = await shop.new_link("/newlink 50 XTR Sticker pack")
    await pay_by_invoice(shop, shop.alice, stickers, "Stars")
    postcard = await shop.new_link("/newlink 1 USD Postcard")
    await pay_by_invoice(shop, shop.alice, postcard, "Pay by card")
    await shop.new_link("/newlink 3 EUR Croissant")  # never paid
    for token, minutes in ((coffee, 1), (tea, 2), (stickers, 4), (postcard, 10)):
        await took(shop, token, minutes)
    admin = shop.admin.id
    coffee_charge, card_charge = await charge_of(shop, coffee), await charge_of(shop, postcard)
    assert coffee_charge.id is not None and card_charge.id is not None
    await daifu.refunds.refund(
        coffee_charge.id, reason=ReturnReason.SHOP_REFUND, actor_id=admin, amount=Money(200, "USD")
    )
    await daifu.refunds.refund(card_charge.id, reason=ReturnReason.SHOP_REFUND, actor_id=admin)  # owed
    await shop.all_told()  # the payers and the admin hear of the refunds first

    stats = (await say(shop, shop.admin, "/stats"))["text"]

    assert "Last 7 days" in stats
    assert "Orders created (new links): 5" in stats and "Orders paid (whenever they were created): 4" in stats
    assert "Taken for the orders paid: $18.50, 50 ⭐" in stats
    assert "Of those, paid by friends: 1 (25%); by the shopper: 3 (75%)" in stats
    assert "Median time from link to payment, of the orders paid: 3 minutes" in stats  # 1, 2, 4, 10: (2 + 4) / 2
    assert "Refunds made (how many · how much): 1 · $2.00" in stats
    assert "Refunds owed, to be made at the provider (how many · how much): 1 · $1.00" in stats
    assert "sandbox: 2 paid · $17.50" in stats and "stars: 1 paid · 50 ⭐" in stats
    assert "telegram: 1 paid · $1.00" in stats
    assert "Orders paid (whenever they were created): 4" in (await say(shop, shop.admin, "/stats 30d"))["text"]
    assert "Usage: /stats" in (await say(shop, shop.admin, "/stats yesterday"))["text"]
    await refused(shop, "/stats")


async def test_order_lookup_shows_payments_requests_refunds_and_the_timeline(shop: RunningShop) -> None:
    tea = await shop.new_link("/newlink 5 USD Tea")
    request = await ask_friend(shop, shop.alice, tea)
    await friend_pays_on_sandbox(shop, shop.bob, request)
    order = await order_of(shop, tea)
    charge = await charge_of(shop, tea)
    assert charge.id is not None
    await shop.daifu.refunds.refund(
        charge.id, reason=ReturnReason.SHOP_REFUND, actor_id=shop.admin.id, amount=Money(100, "USD")
    )
    await shop.all_told()  # Bob and the admin hear of the refund first

    for reference in (tea, f"#{order.id}", request):
        text = (await say(shop, shop.admin, f"/order {reference}"))["text"]
        assert f"Tea · order #{order.id}" in text and "Status: paid" in text and "Shop: Bean There" in text
    assert "Created: " in text and f"by Ada ({shop.admin.id})" in text
    payments = text.split("Payments", 1)[1].split("Refunds", 1)[0]
    assert "sandbox · $5.00 · succeeded" in payments and f"Bob ({shop.bob.id})" in payments
    assert "refunded so far: $1.00" in payments and "through request #" in payments
    assert "$1.00 from payment" in text and "refunded by the shop" in text
    requests = text.split("Pay-for-me requests", 1)[1].split("Timeline", 1)[0]
    assert "one friend pays · paid · asked by Alice" in requests
    timeline = text.split("Timeline", 1)[1]
    for kind in ("created", "pending", "paid", "refunded_payment"):
        assert f"· {kind} ·" in timeline, kind
    assert timeline.index("· created ·") < timeline.index("· paid ·") < timeline.index("· refunded_payment ·")

    unknown = await say(shop, shop.admin, "/order nope-not-a-token")
    assert "No order nope-not-a-token" in unknown["text"]
    await refused(shop, f"/order {tea}")


async def test_a_long_order_story_comes_in_several_messages(shop: RunningShop) -> None:
    order = await shop.daifu.orders.create(Money(300, "EUR"), "Croissant", created_by=shop.admin.id)
    assert order.id is not None
    async with shop.daifu.db.transaction() as session:
        for number in range(60):
            detail = json.dumps({"note": f"event {number} " + "x" * 150})
            session.add(OrderEvent(order_id=order.id, kind="note", actor_id=shop.admin.id, detail=detail))
    sent = await shop.emu.send_text(shop.admin, f"/order {order.token}")

    await shop.told(shop.admin, "event 59 ", after=sent["message_id"])
    replies = [m["text"] for m in shop.emu.bot_messages(shop.admin) if m["message_id"] > sent["message_id"]]
    assert len(replies) > 1 and all(len(text) <= 4096 for text in replies)
    assert "Croissant" in replies[0]
    story = "\n".join(replies)
    assert [story.index(f"event {n} ") for n in range(60)] == sorted(story.index(f"event {n} ") for n in range(60))


async def test_orders_are_listed_newest_first_ten_a_page_with_filters(shop: RunningShop) -> None:
    emu, daifu = shop.emu, shop.daifu
    for number in range(1, 13):
        await daifu.orders.create(Money(100 * number, "USD"), f"Order {number}", created_by=shop.admin.id)
    cancelled = await daifu.orders.create(Money(700, "EUR"), "Espresso", created_by=shop.admin.id)
    assert cancelled.id is not None
    await daifu.closing.cancel(cancelled.id, actor_id=shop.admin.id)

    first = await say(shop, shop.admin, "/orders")
    assert "Espresso" in first["text"] and "Order 4" in first["text"] and "Order 3 " not in first["text"]
    # Orders by number, as the admins' notes name them: no token on the list (/order NUMBER shows it).
    assert f"order #{cancelled.id} · Espresso · " in first["text"] and cancelled.token not in first["text"]
    assert first["text"].index("Espresso") < first["text"].index("Order 12") < first["text"].index("Order 4")
    assert [b["text"] for b in first["reply_markup"]["inline_keyboard"][0]] == ["Older »"]

    await emu.click(shop.admin, first, "Older »")
    second = await emu.wait_for(lambda: "Order 1 " in (m := emu.chat_messages(shop.admin)[-1])["text"] and m)
    assert "Order 3" in second["text"] and "Order 4" not in second["text"]
    assert [b["text"] for b in second["reply_markup"]["inline_keyboard"][0]] == ["« Newer"]
    await emu.click(shop.admin, second, "« Newer")
    again = await emu.wait_for(lambda: "Espresso" in (m := emu.chat_messages(shop.admin)[-1])["text"] and m)
    assert "Order 4" in again["text"] and "Order 3 " not in again["text"]

    searched = (await say(shop, shop.admin, "/orders open Order 1"))["text"]
    assert [f"Order {n} " in searched for n in (1, 10, 11, 12, 2)] == [True, True, True, True, False]
    by_status = (await say(shop, shop.admin, "/orders cancelled"))["text"]
    assert "Espresso" in by_status and "Order" not in by_status.split("\n", 1)[1]
    assert "No orders match" in (await say(shop, shop.admin, "/orders paid"))["text"]

    async with shop.daifu.db.transaction() as session:  # a day passes: the first list's buttons are out of date
        await session.exec(update(ButtonState).values(created_at=utcnow() - timedelta(days=1, minutes=1)))
    answer = await emu.click(shop.admin, first, "Older »")
    assert "out of date" in answer["text"]
    await refused(shop, "/orders")


async def test_export_is_a_csv_of_orders_and_their_payments(shop: RunningShop, monkeypatch: Any) -> None:
    monkeypatch.setattr(order_export, "EXPORT_CHUNK", 1)  # every order in its own chunk: the keyset is walked
    coffee = await shop.new_link("/newlink 12.50 USD Coffee beans")
    await pay_on_sandbox(shop, shop.alice, coffee)
    croissant = await shop.new_link("/newlink 3 EUR =Croissant")  # not a formula in a spreadsheet

    reply = await say(shop, shop.admin, "/export")

    assert "Orders created from" in reply["caption"] and "2 rows" in reply["caption"]
    document = reply["document"]
    assert document["file_name"].startswith("daifu-orders-") and document["file_name"].endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(shop.emu.file_bytes(document["file_id"]).decode("utf-8-sig"))))
    assert list(rows[0]) == list(EXPORT_COLUMNS)
    paid, unpaid = rows
    assert paid["order_token"] == coffee and paid["order_status"] == "paid" and paid["title"] == "Coffee beans"
    assert (paid["order_amount_minor"], paid["order_currency"], paid["order_amount"]) == ("1250", "USD", "12.50")
    assert (paid["provider"], paid["payment_status"], paid["credited"]) == ("sandbox", "succeeded", "yes")
    assert (paid["payment_amount_minor"], paid["payment_amount"], paid["refunded_amount"]) == ("1250", "12.50", "0.00")
    assert paid["payer_id"] == str(shop.alice.id) and paid["paid_at"] and paid["request_id"] == ""
    assert unpaid["order_token"] == croissant and unpaid["title"] == "'=Croissant"
    assert unpaid["order_amount"] == "3.00" and unpaid["payment_id"] == "" and unpaid["provider"] == ""

    old = await say(shop, shop.admin, "/export 2020-01-01 2020-01-31")
    assert "0 rows" in old["caption"]
    assert shop.emu.file_bytes(old["document"]["file_id"]).decode("utf-8-sig").strip() == ",".join(EXPORT_COLUMNS)
    assert "Usage: /export" in (await say(shop, shop.admin, "/export 2020-02-01 2020-01-01"))["text"]
    assert "Usage: /export" in (await say(shop, shop.admin, "/export last-week"))["text"]
    await refused(shop, "/export")
    assert not any("document" in m for m in shop.emu.bot_messages(shop.alice))


async def test_providers_show_their_last_answer_and_the_callback_outbox(shop: RunningShop) -> None:
    daifu = shop.daifu
    await daifu.health.record("sandbox", ok=True)
    await daifu.health.record("telegram", ok=False, error="getUpdates: Bad Gateway")
    order = await daifu.orders.create(Money(300, "EUR"), "Croissant", created_by=shop.admin.id)
    async with daifu.db.transaction() as session:
        for number, attempts in enumerate((0, 3)):
            session.add(
                CallbackDelivery(
                    event_id=f"evt_{number}",
                    shop_id=order.shop_id,
                    order_id=order.id,  # type: ignore[arg-type]
                    kind="order.paid",
                    url="https://shop.example/hook",
                    payload="{}",
                    attempts=attempts,
                    last_error="HTTP 500" if attempts else None,
                )
            )

    text = (await say(shop, shop.admin, "/providers"))["text"]

    assert "sandbox: ✅ answered at" in text
    assert "telegram: ❌ failed at" in text and "Bad Gateway" in text
    assert "stars: no calls yet" in text
    assert "Waiting to be delivered: 2; failing: 1" in text
    assert f"order #{order.id} order.paid → https://shop.example/hook: 3 attempts, last error: HTTP 500" in text
    await refused(shop, "/providers")


async def test_reports_on_an_empty_shop(shop: RunningShop) -> None:
    stats = (await say(shop, shop.admin, "/stats today"))["text"]
    assert "Today" in stats and "Orders created (new links): 0" in stats and "Taken for the orders paid: none" in stats
    assert "Median time from link to payment, of the orders paid: -" in stats and "By provider" not in stats
    assert "No orders match" in (await say(shop, shop.admin, "/orders"))["text"]
    assert "No order 1." in (await say(shop, shop.admin, "/order 1"))["text"]
    assert "Usage: /order" in (await say(shop, shop.admin, "/order"))["text"]
    assert "Waiting to be delivered: 0; failing: 0" in (await say(shop, shop.admin, "/providers"))["text"]


async def test_a_checkout_opened_and_left_is_in_the_timeline_not_among_the_payments(shop: RunningShop) -> None:
    emu = shop.emu
    coffee = await shop.new_link("/newlink 12.50 USD Coffee beans")
    await emu.open_link(shop.carol, f"https://t.me/{BOT_USERNAME}?start={coffee}")
    await emu.click(shop.carol, await emu.next_bot_message(shop.carol), "sandbox")
    await emu.next_bot_message(shop.carol)  # the checkout page's button: Carol leaves it there
    await pay_on_sandbox(shop, shop.alice, coffee)
    order = await order_of(shop, coffee)

    text = (await say(shop, shop.admin, f"/order {order.id}"))["text"]  # the number alone names it too
    assert f"Coffee beans · order #{order.id}" in text
    payments = text.split("Payments", 1)[1].split("Timeline", 1)[0]
    assert f"Alice ({shop.alice.id})" in payments and "Carol" not in payments
    timeline = text.split("Timeline", 1)[1]
    assert f"Carol ({shop.carol.id}) opened a sandbox checkout for $12.50, not paid" in timeline


async def test_admin_notes_name_the_order_by_number_title_and_amount(shop: RunningShop) -> None:
    coffee = await shop.new_link("/newlink 12.50 USD Coffee beans")
    order = await order_of(shop, coffee)
    link = await shop.told(shop.admin, "New checkout link for")
    assert f"New checkout link for order #{order.id} · Coffee beans · $12.50:" in link["caption"]
    await pay_on_sandbox(shop, shop.alice, coffee)
    note = await shop.told(shop.admin, "Alice paid")
    assert f"💰 Alice paid $12.50 via sandbox: order #{order.id} · Coffee beans · $12.50." in note["text"]
    assert coffee not in note["text"]
    receipt = await shop.told(shop.alice, "Payment received")
    assert f"Order: #{order.id}" in receipt["text"] and coffee not in receipt["text"]
