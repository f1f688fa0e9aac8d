"""Keeping track of requests, and the rules that protect people: cancel, limits, tokens, own request."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, update

from services.links import deep_link, qr_png
from services.pay_requests import RequestRefused
from services.why_not import WhyNot
from storage.models import PayRequest, RequestStatus, utcnow
from tests.flows.payforme_steps import ask_friend, current, open_order, open_request, share_card
from tests.harness import BOT_USERNAME, RunningShop


async def pay_by_sandbox(shop: RunningShop, friend, request: str) -> None:  # type: ignore[no-untyped-def]
    emu = shop.emu
    await emu.click(friend, await open_request(shop, friend, request), "sandbox")
    page = await emu.click(friend, await shop.told(friend, "Open the checkout page"), "Open checkout page")
    await shop.post(page, data={"decision": "pay"})


async def test_requests_list_reminder_and_thanks(shop: RunningShop) -> None:
    emu, alice, bob = shop.emu, shop.alice, shop.bob
    first = await ask_friend(shop, alice, await shop.new_link("/newlink 5 USD Tea"), note="thirsty")
    second = await ask_friend(shop, alice, await shop.new_link("/newlink 7 USD Cake"))

    await emu.send_text(alice, "/requests")
    listing = await shop.told(alice, "Your requests")
    assert "Cake" in listing["text"] and "Tea" in listing["text"] and listing["text"].count("open") == 2
    buttons = [b["text"] for row in listing["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == ["Share 1 again", "Cancel 1", "Share 2 again", "Cancel 2"]

    # One reminder before expiry, to the requester only, however often the job runs.
    async with shop.daifu.db.transaction() as session:
        await session.exec(
            update(PayRequest).where(col(PayRequest.token) == first).values(expires_at=utcnow() + timedelta(minutes=30))
        )
    await shop.run_housekeeping()
    await shop.run_housekeeping()
    await shop.told(alice, "still open and expires")
    assert shop.times_told(alice, "still open and expires") == 1

    await pay_by_sandbox(shop, bob, second)
    paid = await shop.told(alice, "Bob paid for you")

    # The list shown before (both requests remembered with it at once) is drawn again: Cake's buttons go, Tea's stay.
    def buttons_now() -> list[str] | None:
        markup = current(shop, listing).get("reply_markup") or {"inline_keyboard": []}
        shown = [b["text"] for row in markup["inline_keyboard"] for b in row]
        return shown if shown != buttons else None

    assert await emu.wait_for(buttons_now) == ["Share 2 again", "Cancel 2"]
    await emu.click(alice, paid, "Say thanks")
    await emu.wait_for(lambda: "Thank you so much" in str(current(shop, paid).get("reply_markup")))
    await emu.click(alice, paid, "Thank you so much! 🙏")
    thanks = await shop.told(bob, "Alice says")
    assert "Thank you so much! 🙏" in thanks["text"]
    sent = await emu.send_text(alice, "/requests")
    relisted = await shop.told(alice, "Your requests", after=sent["message_id"])
    assert "Cake" in relisted["text"] and "paid" in relisted["text"]


async def test_cancel_closes_the_card_and_nothing_is_accepted_after(shop: RunningShop) -> None:
    emu, alice, bob = shop.emu, shop.alice, shop.bob
    group = emu.add_group("Friends", members=[alice, bob])
    request = await ask_friend(shop, alice, await shop.new_link("/newlink 5 USD Tea"))
    card = await share_card(shop, alice, request, group)
    offer = await open_request(shop, bob, request)  # Bob opened it before it was cancelled

    kit = await shop.told(alice, "Your request is ready")
    await emu.click(alice, kit, "Cancel request")
    await shop.told(alice, "Request cancelled")
    await emu.wait_for(lambda: "Cancelled" in current(shop, card)["text"])
    assert not current(shop, card).get("reply_markup")

    # The kit and Bob's offer lose their buttons; taps on them as an app that has not drawn the edit yet shows
    # them are refused all the same.
    await emu.wait_for(
        lambda: not current(shop, kit).get("reply_markup") and not current(shop, offer).get("reply_markup")
    )
    stale = await emu.click(bob, offer, "sandbox", as_shown=True)
    assert "was cancelled" in stale["text"] and stale["show_alert"]
    again = await emu.click(alice, kit, "Cancel request", as_shown=True)
    assert "was cancelled" in again["text"]
    assert "was cancelled" in (await open_request(shop, bob, request))["text"]


async def test_qr_code_on_a_tap_opens_the_request_and_stops_with_it(shop: RunningShop) -> None:
    emu, alice = shop.emu, shop.alice
    request = await ask_friend(shop, alice, await shop.new_link("/newlink 5 USD Tea"))
    kit = await shop.told(alice, "Your request is ready")

    await emu.click(alice, kit, "Show a QR code to scan")
    photo = await shop.told(alice, "scan this code")
    assert emu.file_bytes(photo["photo"][-1]["file_id"]) == qr_png(deep_link(BOT_USERNAME, request))

    await emu.click(alice, kit, "Cancel request")
    await shop.told(alice, "Request cancelled")
    refused = await emu.click(alice, kit, "Show a QR code to scan")
    assert "was cancelled" in refused["text"] and refused["show_alert"]
    assert sum("photo" in m for m in emu.bot_messages(alice)) == 1  # none came with the kit, none after cancelling


async def test_only_the_requester_cancels_and_shares(shop: RunningShop) -> None:
    request = await ask_friend(shop, shop.alice, await shop.new_link("/newlink 5 USD Tea"))
    assert await shop.emu.inline_query(shop.bob, request, chat_type="group") == []
    with pytest.raises(RequestRefused) as refused:
        await shop.daifu.request_closing.cancel(request, shop.bob.id)
    assert refused.value.why == WhyNot.NOT_REQUESTER
    stored = await shop.daifu.request_views.by_token(request)
    assert stored is not None and stored.status == RequestStatus.OPEN


async def test_request_limit(shop: RunningShop) -> None:
    for number in range(10):
        await ask_friend(shop, shop.alice, await shop.new_link(f"/newlink {number + 1} USD Item {number}"))
    order = await shop.new_link("/newlink 3 USD One too many")
    start = shop.last_message_id(shop.alice)
    card = await open_order(shop, shop.alice, order)
    await shop.emu.click(shop.alice, card, "Ask a friend to pay")
    await shop.emu.click(shop.alice, await shop.told(shop.alice, "Add a note", after=start), "Skip")
    refused = await shop.told(shop.alice, "as many open requests as allowed", after=start)
    assert "/requests" in refused["text"]


async def test_tokens_are_single_purpose(shop: RunningShop) -> None:
    order = await shop.new_link("/newlink 5 USD Tea")
    request = await ask_friend(shop, shop.alice, order)
    assert "not known" in (await open_request(shop, shop.bob, "r_" + order))["text"]
    status, _ = await shop.get(f"/o/{request}")
    assert status == 404
    assert "not known" in (await open_order(shop, shop.bob, request[2:]))["text"]


async def test_paying_your_own_request_is_recorded_as_yours(shop: RunningShop) -> None:
    emu, alice = shop.emu, shop.alice
    group = emu.add_group("Friends", members=[alice, shop.bob])
    order = await shop.new_link("/newlink 5 USD Tea")
    request = await ask_friend(shop, alice, order)
    card = await share_card(shop, alice, request, group)
    offer = await open_request(shop, alice, request)
    assert "your own request" in offer["text"]
    await pay_by_sandbox(shop, alice, request)
    told = await shop.told(alice, "You paid your own request")
    assert "Tea" in told["text"] and "Say thanks" not in str(told.get("reply_markup"))
    await emu.wait_for(lambda: "Paid by Alice (themselves) ✅" in current(shop, card)["text"])
    paid = await shop.daifu.orders.by_token(order)
    assert paid is not None and paid.payer_id == alice.id


async def test_thanks_in_the_requesters_own_words_reach_the_friend_once_and_as_written(shop: RunningShop) -> None:
    emu, alice, bob = shop.emu, shop.alice, shop.bob
    request = await ask_friend(shop, alice, await shop.new_link("/newlink 5 USD Tea"))
    await pay_by_sandbox(shop, bob, request)
    paid = await shop.told(alice, "Bob paid for you")
    await emu.click(alice, paid, "Say thanks")
    await emu.wait_for(lambda: "In my own words" in str(current(shop, paid).get("reply_markup")))
    await emu.click(alice, paid, "✏️ In my own words")
    prompt = await shop.told(alice, "Write your thank-you to Bob (up to 300 characters)")
    await emu.click(alice, prompt, "Cancel")  # a way out: nothing is sent, and the ready lines are still there
    await shop.told(alice, "Cancelled. Nothing was sent.")
    await emu.wait_for(lambda: not current(shop, prompt).get("reply_markup"))
    await emu.send_text(alice, "never mind")  # not a thank-you: the step is over
    await emu.click(alice, paid, "✏️ In my own words")
    await shop.told(alice, "Write your thank-you to Bob", after=prompt["message_id"])

    await emu.send_text(alice, "x" * 301)
    too_long = await shop.told(alice, "That is 301 characters")
    assert too_long["reply_markup"]["inline_keyboard"][-1][0]["text"] == "Cancel"
    assert shop.times_told(bob, "Alice says") == 0

    words = "<b>Tea</b> & cake next time, I owe you <3"
    await emu.send_text(alice, words)
    await shop.told(alice, "Sent to Bob!")
    thanks = await shop.told(bob, "Alice says")
    assert thanks["text"] == f"💌 Alice says: {words}"  # shown as written: no markup of hers is applied
    await emu.send_text(alice, words)  # sent again: the step is over, so it is not passed on twice
    asked = await emu.send_text(alice, "/help")
    await shop.told(alice, "lets you pay through this chat", after=asked["message_id"])  # the bot has caught up
    assert shop.times_told(bob, "Alice says") == 1


async def test_money_for_a_request_that_expired_while_the_friend_was_paying_goes_back_saying_so(
    shop: RunningShop,
) -> None:
    """Past its time a request takes nothing, even before the expiry job has been round: the friend's payment goes
    back, and the friend is told the request expired (not that someone else paid)."""
    emu, bob = shop.emu, shop.bob
    request = await ask_friend(shop, shop.alice, await shop.new_link("/newlink 5 USD Tea"))
    offer = await open_request(shop, bob, request)
    await emu.click(bob, offer, "sandbox")
    page = await emu.click(bob, await shop.told(bob, "Open the checkout page"), "Open checkout page")
    async with shop.daifu.db.transaction() as session:
        await session.exec(
            update(PayRequest)
            .where(col(PayRequest.token) == request)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )

    status, _ = await shop.post(page, data={"decision": "pay"})

    assert status == 200
    refund = await shop.told(bob, "has been refunded")
    assert "The request expired before your payment arrived, so it is given back." in refund["text"]
    assert shop.times_told(bob, "Payment received") == 0
    stored = await shop.daifu.request_views.by_token(request)
    assert stored is not None and stored.covered_minor == 0
