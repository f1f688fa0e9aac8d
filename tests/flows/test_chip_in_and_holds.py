"""Chip-ins covering an order together, and the hold that lets only one friend pay a single request."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlmodel import col, select, update

from payments.base import ChargeOutcome
from payments.sandbox import SandboxGateway
from storage.models import OrderStatus, Payment, PaymentStatus, PayRequest, RequestStatus, utcnow
from tests.flows.payforme_steps import ask_friend, attempts_and_holder, current, open_request, share_card
from tests.harness import RunningShop


async def chip_in(shop: RunningShop, friend, request: str, amount: str) -> None:  # type: ignore[no-untyped-def]
    """A friend chips in an amount they type, and pays it on the sandbox page."""
    emu = shop.emu
    offer = await open_request(shop, friend, request)
    await emu.click(friend, offer, "Another amount")
    await shop.told(friend, "How much do you want to chip in?")
    await emu.send_text(friend, amount)
    methods = await shop.told(friend, "How do you want to pay?")
    await emu.click(friend, methods, "sandbox")
    page = await emu.click(friend, await shop.told(friend, "Open the checkout page"), "Open checkout page")
    status, _ = await shop.post(page, data={"decision": "pay"})
    assert status == 200


async def choose_part(shop: RunningShop, friend, offer: dict, label: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """The friend taps a part on the request's offer; returns the offer as redrawn with the ways to pay it."""
    await shop.emu.click(friend, offer, label)
    return await shop.emu.wait_for(
        lambda: "How do you want to pay" in current(shop, offer)["text"] and current(shop, offer)
    )


async def test_three_friends_cover_an_order_and_a_fourth_is_told_it_is_covered(shop: RunningShop) -> None:
    emu = shop.emu
    dave = emu.add_user("Dave", language_code="en")
    erin = emu.add_user("Erin", language_code="en")
    group = emu.add_group("Friends", members=[shop.alice, shop.bob, shop.carol, dave, erin])
    order = await shop.new_link("/newlink 100 USD Team dinner")
    request = await ask_friend(shop, shop.alice, order, shares=3)
    card = await share_card(shop, shop.alice, request, group)
    assert "Chip in for Alice" in str(card["reply_markup"])
    assert card["text"].startswith("🙏 Alice asks 3 friends to split $100.00: $33.34 each\nFor Team dinner at Bean")

    await chip_in(shop, shop.bob, request, "30")
    await shop.told(shop.alice, "Bob chipped in $30.00")
    receipt = await shop.told(shop.bob, "Payment received")
    assert "You chipped in for Alice." in receipt["text"]
    assert "What happens next: Alice has been told. Once friends have covered the whole order" in receipt["text"]
    await chip_in(shop, shop.carol, request, "30")
    told = await shop.told(shop.alice, "Carol chipped in $30.00")
    assert "$60.00 of $100.00 covered" in told["text"]
    await emu.wait_for(lambda: "$60.00 of $100.00" in current(shop, card)["text"])
    assert "Chipped in: Bob, Carol" in current(shop, card)["text"]

    # Dave pays the rest with the offered button, and asks to stay anonymous on the card.
    offer = await open_request(shop, dave, request)
    assert offer["text"].startswith("Alice asks 3 friends to split $100.00: $33.34 each")
    assert "$40.00 of $100.00 is left" in offer["text"]
    await emu.click(dave, offer, "Show my name on the card: yes")
    redrawn = await emu.wait_for(
        lambda: "Show my name on the card: no" in str(current(shop, offer).get("reply_markup")) and current(shop, offer)
    )
    methods = await choose_part(shop, dave, redrawn, "Pay all that is left")
    await emu.click(dave, methods, "sandbox")
    page = await emu.click(dave, await shop.told(dave, "Open the checkout page"), "Open checkout page")
    await shop.post(page, data={"decision": "pay"})

    done = await shop.told(shop.alice, "covered the whole order")
    assert "A friend" in done["text"]  # Dave stays anonymous
    last = await shop.told(dave, "Payment received")
    assert "What happens next: Alice and the shop have been told" in last["text"]  # his part finished it
    await emu.wait_for(lambda: "Covered by friends ✅" in current(shop, card)["text"])
    assert "Chipped in: Bob, Carol, someone" in current(shop, card)["text"]
    paid = await shop.daifu.orders.by_token(order)
    assert paid is not None and paid.status == OrderStatus.PAID
    late = await open_request(shop, erin, request)
    assert "already been paid" in late["text"]
    # The admins had a note per chip-in, and one that says the order is fully paid.
    fully = await shop.told(shop.admin, "✅ Fully paid by friends: order #")
    assert f"order #{paid.id} · Team dinner · $100.00." in fully["text"] and "Dave paid $40.00" in fully["text"]
    await shop.all_told()
    assert shop.times_told(shop.admin, "Fully paid") == 1 and shop.times_told(shop.admin, "💰") == 3


async def test_an_expired_split_gives_every_part_back(shop: RunningShop) -> None:
    order = await shop.new_link("/newlink 100 USD Team dinner")
    request = await ask_friend(shop, shop.alice, order, shares=3)
    await chip_in(shop, shop.bob, request, "30")
    await chip_in(shop, shop.carol, request, "30")
    await shop.told(shop.alice, "Carol chipped in")

    async with shop.daifu.db.transaction() as session:
        await session.exec(
            update(PayRequest)
            .where(col(PayRequest.token) == request)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    await shop.restart()  # the expiry is found again after a restart
    await shop.run_housekeeping()

    for friend in (shop.bob, shop.carol):
        refund = await shop.told(friend, "has been refunded")
        assert "$30.00" in refund["text"]
        assert "The request expired before friends covered the order" in refund["text"]
    await shop.told(shop.alice, "expired")
    async with shop.daifu.db.transaction() as session:
        statuses = (
            await session.exec(
                select(Payment.status).where(
                    col(Payment.request_id).is_not(None), col(Payment.provider_ref).is_not(None)
                )
            )
        ).all()
    assert sorted(statuses) == [PaymentStatus.REFUNDED, PaymentStatus.REFUNDED]
    stored = await shop.daifu.request_views.by_token(request)
    assert stored is not None and stored.status == RequestStatus.EXPIRED


async def test_a_hundred_friends_tap_pay_at_once_and_exactly_one_holds(shop: RunningShop) -> None:
    emu = shop.emu
    order = await shop.new_link("/newlink 12.50 USD Coffee beans")
    request = await ask_friend(shop, shop.alice, order)
    friends = [emu.add_user(f"Friend{n}", language_code="en") for n in range(100)]
    # A hundred links opened at once on a two-core machine running two test processes: the answers come, but
    # the last may take longer than one person's usual wait.
    offers = await asyncio.gather(*(open_request(shop, friend, request, timeout=30) for friend in friends))

    answers = await asyncio.gather(
        *(emu.click(friend, offer, "sandbox", timeout=30) for friend, offer in zip(friends, offers, strict=True))
    )

    refused = [a for a in answers if a and a.get("show_alert")]
    assert len(refused) == 99
    assert all("is paying for this right now" in a["text"] for a in refused)
    attempts, holder = await attempts_and_holder(shop, request)
    assert attempts == 1
    winner = next(f for f, a in zip(friends, answers, strict=True) if not (a and a.get("show_alert")))
    assert holder == f"tg:{winner.id}"


async def invoice_sent(shop: RunningShop, friend) -> dict:  # type: ignore[no-untyped-def]
    def latest() -> dict | None:  # type: ignore[type-arg]
        return next((m for m in reversed(shop.emu.bot_messages(friend)) if m.get("invoice")), None)

    return await shop.emu.wait_for(latest)


async def choose_a_share(shop: RunningShop, friend, request: str) -> dict:  # type: ignore[no-untyped-def]
    """A friend opens the request and taps their share; returns the message offering ways to pay it."""
    offer = await open_request(shop, friend, request)
    return await choose_part(shop, friend, offer, "Chip in a share")


async def test_three_friends_paying_their_shares_at_once_never_pay_more_than_the_order(shop: RunningShop) -> None:
    """$10.00 in three shares is $3.34 each (rounded up, so three cover it). When all three pay at once, the
    third is offered the $3.32 left rather than charged $3.34 and refunded: the order is covered exactly."""
    emu = shop.emu
    dave = emu.add_user("Dave", language_code="en")
    order = await shop.new_link("/newlink 10 USD Pizza")
    request = await ask_friend(shop, shop.alice, order, shares=3)
    friends = [shop.bob, shop.carol, dave]
    offers = [await choose_a_share(shop, friend, request) for friend in friends]
    assert all("You chip in $3.34" in offer["text"] for offer in offers)

    answers = await asyncio.gather(
        *(emu.click(friend, offer, "Pay by card") for friend, offer in zip(friends, offers, strict=True))
    )

    refused = [(friend, offer) for friend, offer, a in zip(friends, offers, answers, strict=True) if a["show_alert"]]
    assert len(refused) == 1, answers
    [alert] = [a["text"] for a in answers if a["show_alert"]]
    assert alert == "Friends are paying part of this right now: $3.32 is left for you to chip in."
    last, offer = refused[0]
    redrawn = await emu.wait_for(lambda: "You chip in $3.32" in current(shop, offer)["text"] and current(shop, offer))
    assert "$6.68 more is being paid by friends right now" in redrawn["text"]
    await emu.click(last, redrawn, "Pay by card")

    invoices = [await invoice_sent(shop, friend) for friend in friends]
    # Each invoice says whose order it is and which part of it this friend pays.
    assert {invoice["invoice"]["title"] for invoice in invoices} == {"Pizza — for Alice"}
    parts = [invoice["invoice"]["description"] for invoice in invoices]
    assert parts.pop(friends.index(last)).startswith("Your part ($3.32) of the $10.00 that Alice asked friends")
    share = "Your part ($3.34) of the $10.00 that Alice asked friends to split at Bean There."
    assert parts == [f"{share} The shop delivers the order to Alice."] * 2
    for friend, invoice in zip(friends, invoices, strict=True):
        await emu.pay_invoice(friend, invoice)
    await shop.told(shop.alice, "covered the whole order")
    async with shop.daifu.db.transaction() as session:
        charged = (
            await session.exec(
                select(Payment.amount_minor).where(col(Payment.provider_ref).is_not(None), Payment.credited)
            )
        ).all()
    assert sorted(charged) == [332, 334, 334]  # $10.00 exactly, nothing to give back
    paid = await shop.daifu.orders.by_token(order)
    assert paid is not None and paid.status == OrderStatus.PAID


async def test_a_chip_in_left_unpaid_past_the_hold_is_refused_at_payment_when_others_took_its_part(
    shop: RunningShop,
) -> None:
    emu = shop.emu
    order = await shop.new_link("/newlink 10 USD Pizza")
    request = await ask_friend(shop, shop.alice, order, shares=2)
    bob_offer = await open_request(shop, shop.bob, request)
    bob_methods = await choose_part(shop, shop.bob, bob_offer, "Pay all that is left")
    await emu.click(shop.bob, bob_methods, "Pay by card")
    bob_invoice = await invoice_sent(shop, shop.bob)

    # Carol is told all of it is being paid, until Bob's part lapses with the hold time.
    carol_offer = await open_request(shop, shop.carol, request)
    assert "$0.00 of $10.00 is left" in carol_offer["text"]
    assert "$10.00 more is being paid by friends right now" in carol_offer["text"]
    async with shop.daifu.db.transaction() as session:
        await session.exec(
            update(Payment)
            .where(col(Payment.payer_id) == shop.bob.id)
            .values(created_at=utcnow() - shop.daifu.rules.payforme_hold - timedelta(seconds=1))
        )
    carol_offer = await open_request(shop, shop.carol, request)
    carol_methods = await choose_part(shop, shop.carol, carol_offer, "Pay all that is left")
    await emu.click(shop.carol, carol_methods, "Pay by card")
    carol_invoice = await invoice_sent(shop, shop.carol)

    refused = await emu.pre_checkout(shop.bob, bob_invoice)  # Bob comes back to his old invoice
    assert refused == {
        "ok": False,
        "error_message": "Friends have paid, or are paying right now, the rest of this request; you were not charged.",
    }
    await emu.pay_invoice(shop.carol, carol_invoice)
    await shop.told(shop.alice, "covered the whole order")


async def test_a_chip_in_told_late_shows_the_total_covered_now_not_an_older_one(shop: RunningShop) -> None:
    """Bob's chip-in is credited first but its notice is told after Carol's (another worker, a retry): Alice's
    messages must not show the covered total going backwards."""
    emu = shop.emu
    order = await shop.new_link("/newlink 100 USD Team dinner")
    request = await ask_friend(shop, shop.alice, order, shares=3)

    offer = await open_request(shop, shop.bob, request)
    await emu.click(shop.bob, offer, "Another amount")
    await shop.told(shop.bob, "How much do you want to chip in?")
    await emu.send_text(shop.bob, "30")
    await emu.click(shop.bob, await shop.told(shop.bob, "How do you want to pay?"), "sandbox")
    page = await emu.click(shop.bob, await shop.told(shop.bob, "Open the checkout page"), "Open checkout page")
    gateway = shop.daifu.providers["sandbox"]
    assert isinstance(gateway, SandboxGateway)
    session = gateway.open_session(page.rsplit("/", 1)[1])
    assert session is not None
    headers, body = gateway.signed_notice(session, ChargeOutcome.SUCCEEDED)
    async with shop.another_worker() as other:  # credited there; that worker dies before telling anyone
        await other.notices.receive("sandbox", headers, body, remote=None)

    await chip_in(shop, shop.carol, request, "30")
    assert "$60.00 of $100.00 covered" in (await shop.told(shop.alice, "Carol chipped in $30.00"))["text"]
    assert shop.times_told(shop.alice, "Bob chipped in") == 0
    await shop.lease_runs_out()
    await shop.run_housekeeping()

    late = await shop.told(shop.alice, "Bob chipped in $30.00")
    assert "$60.00 of $100.00 covered" in late["text"]  # not the $30.00 covered when Bob's was credited


async def test_another_amount_is_read_as_written_and_can_be_cancelled(shop: RunningShop) -> None:
    emu, bob = shop.emu, shop.bob
    order = await shop.new_link("/newlink 2000 USD Team dinner")
    request = await ask_friend(shop, shop.alice, order, shares=3)
    offer = await open_request(shop, bob, request)
    await emu.click(bob, offer, "Another amount")
    prompt = await shop.told(bob, "How much do you want to chip in?")
    assert [b["text"] for row in prompt["reply_markup"]["inline_keyboard"] for b in row] == ["Cancel"]
    await emu.send_text(bob, "1,50")
    refusal = await shop.told(bob, "Did you mean 1.50?")
    assert refusal["reply_markup"]["inline_keyboard"][-1][0]["text"] == "Cancel"
    await emu.send_text(bob, "€5")
    await shop.told(bob, "This amount is in US Dollar (USD), not €")
    await emu.send_text(bob, "$1,500")  # fifteen hundred dollars, not $1.50
    methods = await shop.told(bob, "How do you want to pay?")
    assert "$1,500.00" in methods["text"]

    await emu.click(bob, offer, "Another amount")
    prompt = await shop.told(bob, "How much do you want to chip in?", after=methods["message_id"])
    await emu.click(bob, prompt, "Cancel")
    await shop.told(bob, "Cancelled. Nothing was paid.")
    await emu.wait_for(lambda: not current(shop, prompt).get("reply_markup"))  # its Cancel button is gone
    await emu.send_text(bob, "30")  # no step waits for an amount now
    await shop.told(bob, "/help", after=prompt["message_id"])
