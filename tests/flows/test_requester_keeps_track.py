"""The requester keeps track (/my): the orders they asked friends to pay for are listed with what became of them in
words, and a tap opens one with what can still be done: share it again, remind the friends, cancel the request."""

from __future__ import annotations

from handlers.tidying import short_date
from storage.models import utcnow
from tests.flows.payforme_steps import ask_friend, current, open_request
from tests.flows.test_admin_reports import friend_pays_on_sandbox, say
from tests.flows.test_chip_in_and_holds import chip_in
from tests.flows.test_finished_messages import finished
from tests.harness import RunningShop


async def test_a_requester_follows_their_requests_in_my_and_reminds_the_friends_who_opened_one(
    shop: RunningShop,
) -> None:
    emu, alice, bob = shop.emu, shop.alice, shop.bob
    carol = emu.add_user("Carol")
    # Orders the shop made: Alice neither made them nor paid them, she asked friends to.
    coffee = await shop.new_link("/newlink 12.50 USD Coffee beans")
    cake = await shop.new_link("/newlink 10 USD Birthday cake")
    coffee_request = await ask_friend(shop, alice, coffee)
    cake_request = await ask_friend(shop, alice, cake, shares=3)
    offer = await open_request(shop, bob, coffee_request)
    await chip_in(shop, carol, cake_request, "3.34")
    await shop.told(alice, "Carol")

    listing = await say(shop, alice, "/my")
    text = listing["text"]
    assert text.index("Birthday cake") < text.index("Coffee beans")  # newest first
    assert "1. <b>Birthday cake</b>" not in text  # HTML is drawn, not shown
    assert "Birthday cake · $10.00\n   waiting for a friend to pay · 1 of 3 chipped in" in text
    assert "Coffee beans · $12.50\n   waiting for a friend to pay" in text
    assert [row[0]["text"] for row in listing["reply_markup"]["inline_keyboard"]] == [
        "1. Birthday cake",
        "2. Coffee beans",
    ]

    await emu.click(alice, listing, "2. Coffee beans")
    detail = await shop.told(alice, "Your request to friends is open until")
    assert "Coffee beans · $12.50" in detail["text"] and "Status: waiting for a friend to pay" in detail["text"]
    buttons = [[button["text"] for button in row] for row in detail["reply_markup"]["inline_keyboard"]]
    assert buttons == [["Share again", "Remind friends"], ["Cancel request"]]

    # Bob opened the request: he is reminded under the offer he was shown, once however often Alice taps.
    await emu.click(alice, detail, "Remind friends")
    nudge = await shop.told(bob, "Alice reminds you of")
    assert "Coffee beans" in nudge["text"] and "$12.50" in nudge["text"]
    assert nudge["reply_to_message"]["message_id"] == offer["message_id"]
    said = await shop.told(alice, "Reminded 1 friend(s) who opened your request")
    assert "share the request there again" in said["text"]
    assert "switch_inline_query_chosen_chat" in said["reply_markup"]["inline_keyboard"][0][0]
    again = await emu.click(alice, detail, "Remind friends")
    assert "reminded a short while ago" in again["text"] and "in 30 minutes" in again["text"]
    assert shop.times_told(bob, "reminds you of") == 1
    # Nobody opened the cake's request in a chat with the bot but Carol, who chipped in: nobody to remind.
    await emu.click(alice, listing, "1. Birthday cake")
    cake_detail = await shop.told(alice, "Chipped in: Carol $3.34")
    await emu.click(alice, cake_detail, "Remind friends")
    await shop.told(alice, "nobody to remind")
    assert shop.times_told(carol, "reminds you of") == 0

    # Bob pays: the opened order loses its buttons and says so, and the list says who paid.
    await friend_pays_on_sandbox(shop, bob, coffee_request)
    await emu.wait_for(lambda: finished(shop, detail, f"Paid by Bob ✅ · {short_date(utcnow(), 'en')}"))
    assert current(shop, cake_detail).get("reply_markup")  # the cake is still waiting
    assert "Coffee beans · $12.50\n   paid by Bob" in (await say(shop, alice, "/my"))["text"]
    # Bob finds the order he paid in his own /my, with his receipt.
    bobs = (await say(shop, bob, "/my"))["text"]
    assert "Coffee beans · $12.50\n   paid by you\n   Receipt: $12.50" in bobs
