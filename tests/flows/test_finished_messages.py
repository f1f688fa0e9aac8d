"""Finished messages look finished: once an order is paid, cancelled or expired, or a request cancelled or expired,
every message that offered to pay, share, cancel or chip in for it has lost its buttons and says what became of it
(an invoice, which cannot be edited, gets a note under it); and a refund of what a friend paid tells both."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlmodel import col, func, select, update

from emulator.faults import server_error, telegram_error
from emulator.state import User
from handlers.tidying import short_date
from storage.models import LiveMessage, Order, PayRequest, Telling, utcnow
from tests.flows.payforme_steps import ask_friend, current, open_order, open_request, share_card
from tests.flows.test_admin_actions import confirm
from tests.flows.test_admin_reports import friend_pays_on_sandbox, say
from tests.flows.test_pay_for_me import pay_button
from tests.harness import RunningShop


def finished(shop: RunningShop, message: dict[str, Any], status: str) -> dict[str, Any] | None:
    """The message as it is now, if it has no buttons left and ends with the status line."""
    now = current(shop, message)
    return now if not now.get("reply_markup") and now.get("text", "").endswith(status) else None


def notes_under(shop: RunningShop, person: User, invoice: dict[str, Any]) -> list[str]:
    return [
        m["text"]
        for m in shop.emu.bot_messages(person)
        if (m.get("reply_to_message") or {}).get("message_id") == invoice["message_id"]
    ]


async def live_rows(shop: RunningShop) -> int:
    async with shop.daifu.db.transaction() as session:
        return int((await session.exec(select(func.count()).select_from(LiveMessage))).one())


async def remembered(shop: RunningShop, count: int) -> None:
    """Until this many messages are written down (a handler remembers its message after sending it)."""
    for _ in range(250):
        await shop.daifu.live_messages.flush()
        if await live_rows(shop) >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{await live_rows(shop)} messages remembered, not {count}")


async def untold(shop: RunningShop) -> int:
    async with shop.daifu.db.transaction() as session:
        rows = select(func.count()).select_from(Telling).where(col(Telling.done_at).is_(None))
        return int((await session.exec(rows)).one())


async def two_shoppers_with_invoices(shop: RunningShop) -> tuple[dict[str, Any], ...]:
    """Bob and Carol each open one order and ask for its Stars invoice: their views and invoices."""
    order = await shop.new_link("/newlink 50 XTR Sticker pack")
    seen: list[dict[str, Any]] = []
    for person in (shop.bob, shop.carol):
        view = await open_order(shop, person, order)
        await shop.emu.click(person, view, "Stars")
        seen += [view, await shop.emu.next_bot_message(person)]
    return tuple(seen)


async def test_a_paid_order_leaves_no_button_to_pay_in_any_chat(shop: RunningShop) -> None:
    emu, bob, carol = shop.emu, shop.bob, shop.carol
    bob_view, bob_invoice, carol_view, carol_invoice = await two_shoppers_with_invoices(shop)
    assert bob_invoice.get("invoice") and carol_invoice.get("invoice")

    await emu.pay_invoice(carol, carol_invoice)

    today = short_date(utcnow(), "en")
    seen = await emu.wait_for(lambda: finished(shop, bob_view, f"Paid by Carol ✅ · {today}"))
    assert "Sticker pack" in seen["text"]  # the order is still there to read
    await emu.wait_for(lambda: finished(shop, carol_view, f"Paid by you ✅ · {today}"))
    # Bob's invoice cannot be edited: a note under it says it is paid; Carol's own paid invoice needs none.
    await emu.wait_for(lambda: notes_under(shop, bob, bob_invoice) == ["This order is already paid."])
    await shop.all_told()
    assert notes_under(shop, carol, carol_invoice) == []
    assert await live_rows(shop) == 0  # tidied: forgotten


async def test_a_cancelled_request_takes_the_buttons_off_its_kit_cards_offers_and_list(shop: RunningShop) -> None:
    emu, alice, bob = shop.emu, shop.alice, shop.bob
    group = emu.add_group("Friends", members=[alice, bob])
    order = await shop.new_link("/newlink 12.50 USD Coffee beans")
    start = shop.last_message_id(alice)
    request = await ask_friend(shop, alice, order)
    kit = await shop.told(alice, "Your request is ready", after=start)
    card = await share_card(shop, alice, request, group)
    picked = await emu.inline_query(alice, request, chat_type="group")
    invoice = next(r for r in picked if r["id"].startswith("invoice:telegram:"))
    group_invoice = await emu.choose_inline_result(alice, invoice, chat=group)
    offer = await open_request(shop, bob, request)
    listed = await say(shop, alice, "/requests")
    assert "Cancel 1" in str(listed["reply_markup"])

    await emu.click(alice, listed, "Cancel 1")

    await emu.wait_for(lambda: finished(shop, kit, "Cancelled"))
    await emu.wait_for(lambda: finished(shop, offer, "Cancelled"))
    await emu.wait_for(lambda: finished(shop, card, "Cancelled"))
    # Posted through the chat picker, the invoice has no chat the bot knows to write in: its Pay button says it.
    await emu.wait_for(lambda: pay_button(current(shop, group_invoice)) == "Cancelled")
    redrawn = await emu.wait_for(lambda: not current(shop, listed).get("reply_markup") and current(shop, listed))
    assert "Coffee beans" in redrawn["text"] and "cancelled" in redrawn["text"]
    # The order itself is still open: its own view, opened by Alice, keeps its ways to pay.
    order_view = next(m for m in emu.bot_messages(alice) if "Ask a friend to pay" in str(m.get("reply_markup")))
    assert current(shop, order_view).get("reply_markup")


async def test_an_expired_order_says_so_everywhere_it_was_offered(shop: RunningShop) -> None:
    emu, alice, bob = shop.emu, shop.alice, shop.bob
    group = emu.add_group("Friends", members=[alice, bob])
    order = await shop.new_link("/newlink 12.50 USD Coffee beans")
    bob_view = await open_order(shop, bob, order)
    start = shop.last_message_id(alice)
    request = await ask_friend(shop, alice, order)
    kit = await shop.told(alice, "Your request is ready", after=start)
    card = await share_card(shop, alice, request, group)
    async with shop.daifu.db.transaction() as session:
        past = utcnow() - timedelta(seconds=1)
        await session.exec(update(Order).where(col(Order.token) == order).values(expires_at=past))
        await session.exec(update(PayRequest).where(col(PayRequest.token) == request).values(expires_at=past))

    await shop.run_housekeeping()

    await emu.wait_for(lambda: finished(shop, bob_view, "Expired"))
    await emu.wait_for(lambda: finished(shop, kit, "Expired"))
    await emu.wait_for(lambda: finished(shop, card, "Expired"))
    # Alice asked friends to pay it: her /my lists it, expired, with no link to pay.
    mine = (await say(shop, alice, "/my"))["text"]
    assert "Coffee beans · $12.50\n   expired" in mine and order not in mine


async def test_an_admin_cancel_follows_an_invoice_with_a_note_in_the_chat_s_language(shop: RunningShop) -> None:
    emu = shop.emu
    wei = emu.add_user("Wei", language_code="zh-hans")
    order = await shop.new_link("/newlink 50 XTR Sticker pack")
    view = await open_order(shop, wei, order)
    await emu.click(wei, view, "Stars")
    invoice = await emu.next_bot_message(wei)

    await say(shop, shop.admin, f"/cancel {order}")

    await emu.wait_for(lambda: finished(shop, view, "已取消"))
    notes = await emu.wait_for(lambda: notes_under(shop, wei, invoice))
    assert notes == ["这笔订单已取消：这张账单不能再支付。"]


async def test_an_edit_telegram_refuses_is_done_and_a_passing_failure_is_tried_again(shop: RunningShop) -> None:
    emu, bob, carol = shop.emu, shop.bob, shop.carol
    order = await shop.new_link("/newlink 12.50 USD Coffee beans")
    carol_view = await open_order(shop, carol, order)
    bob_view = await open_order(shop, bob, order)
    await remembered(shop, 2)  # both written down before the cancel: one tidying finds both
    # Carol deleted her copy (Telegram refuses the edit for good); Bob's edit meets a passing outage once.
    emu.faults.fail(
        "editMessageText",
        fault=telegram_error(400, "Bad Request: message to edit not found"),
        when=lambda params: str(params.get("chat_id")) == str(carol.id),
    )
    emu.faults.fail(
        "editMessageText", fault=server_error(502), times=1, when=lambda p: str(p.get("chat_id")) == str(bob.id)
    )

    await say(shop, shop.admin, f"/cancel {order}")
    await emu.wait_for(lambda: emu.faults.count("editMessageText") == 2)
    await shop.all_told()
    assert current(shop, carol_view).get("reply_markup")  # refused: left as it is, and not tried again
    assert await untold(shop) == 1 and await live_rows(shop) == 1  # Bob's, to try again

    await shop.lease_runs_out()
    await shop.run_housekeeping()
    await emu.wait_for(lambda: finished(shop, bob_view, "Cancelled"))
    assert await untold(shop) == 0 and await live_rows(shop) == 0


async def test_an_order_paid_before_its_messages_are_written_down_is_tidied_once(shop: RunningShop) -> None:
    """A friend mostly pays within the moment a message waits to be written down: its tidying takes it then."""
    emu, bob, carol = shop.emu, shop.bob, shop.carol
    shop.daifu.live_messages.flush_after = 60  # nothing here is written down by time
    bob_view, bob_invoice, carol_view, carol_invoice = await two_shoppers_with_invoices(shop)
    assert await live_rows(shop) == 0

    await emu.pay_invoice(carol, carol_invoice)

    today = short_date(utcnow(), "en")
    await emu.wait_for(lambda: finished(shop, bob_view, f"Paid by Carol ✅ · {today}"))
    await emu.wait_for(lambda: finished(shop, carol_view, f"Paid by you ✅ · {today}"))
    await shop.all_told()  # writes down what is left (Bob's invoice, of an order it learns is paid)
    await shop.all_told()
    assert notes_under(shop, bob, bob_invoice) == ["This order is already paid."]
    assert notes_under(shop, carol, carol_invoice) == []
    edited = sorted(str(params["chat_id"]) for params in emu.calls_to("editMessageText"))
    assert edited == sorted([str(bob.id), str(carol.id)])  # each view once
    assert await live_rows(shop) == 0


async def test_a_message_not_yet_written_down_that_an_edit_fails_on_is_kept_and_tried_again(shop: RunningShop) -> None:
    emu, bob = shop.emu, shop.bob
    shop.daifu.live_messages.flush_after = 60
    order = await shop.new_link("/newlink 12.50 USD Coffee beans")
    bob_view = await open_order(shop, bob, order)
    emu.faults.fail(
        "editMessageText", fault=server_error(502), times=1, when=lambda p: str(p.get("chat_id")) == str(bob.id)
    )

    await say(shop, shop.admin, f"/cancel {order}")
    await emu.wait_for(lambda: emu.faults.count("editMessageText") == 1)
    await shop.all_told()
    assert current(shop, bob_view).get("reply_markup")
    assert await untold(shop) == 1 and await live_rows(shop) == 1  # given back, written down now

    await shop.lease_runs_out()
    await shop.run_housekeeping()
    await emu.wait_for(lambda: finished(shop, bob_view, "Cancelled"))
    assert await untold(shop) == 0 and await live_rows(shop) == 0


async def test_a_shop_refund_of_what_a_friend_paid_tells_the_requester_and_the_payer(shop: RunningShop) -> None:
    emu, alice, bob = shop.emu, shop.alice, shop.bob
    order = await shop.new_link("/newlink 12.50 USD Coffee beans")
    request = await ask_friend(shop, alice, order)
    await friend_pays_on_sandbox(shop, bob, request)
    await emu.click(alice, await say(shop, alice, "/language"), "简体中文")  # Alice reads Chinese; Bob, English
    await shop.told(alice, "中文")

    await confirm(shop, await say(shop, shop.admin, f"/refund {order}"))

    told_bob = await shop.told(bob, "was refunded")
    assert "Your payment of $12.50 for Alice's Coffee beans was refunded." in told_bob["text"]
    told_alice = await shop.told(alice, "已退款给 Bob")
    assert "Coffee beans" in told_alice["text"] and "12.50" in told_alice["text"]
    # Her /my says so, in her language.
    assert "Coffee beans · US$12.50\n   已退款" in (await say(shop, alice, "/my"))["text"]
