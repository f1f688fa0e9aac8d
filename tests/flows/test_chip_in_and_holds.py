"""Chip-ins covering an order together, and the hold that lets only one friend pay a single request."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlmodel import col, select, update

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


async def test_three_friends_cover_an_order_and_a_fourth_is_told_it_is_covered(shop: RunningShop) -> None:
    emu = shop.emu
    dave = emu.add_user("Dave", language_code="en")
    erin = emu.add_user("Erin", language_code="en")
    group = emu.add_group("Friends", members=[shop.alice, shop.bob, shop.carol, dave, erin])
    order = await shop.new_link("/newlink 100 USD Team dinner")
    request = await ask_friend(shop, shop.alice, order, shares=3)
    card = await share_card(shop, shop.alice, request, group)
    assert "Chip in for Alice" in str(card["reply_markup"])

    await chip_in(shop, shop.bob, request, "30")
    await shop.told(shop.alice, "Bob chipped in $30.00")
    await chip_in(shop, shop.carol, request, "30")
    told = await shop.told(shop.alice, "Carol chipped in $30.00")
    assert "$60.00 of $100.00 covered" in told["text"]
    await emu.wait_for(lambda: "$60.00 of $100.00" in current(shop, card)["text"])
    assert "Chipped in: Bob, Carol" in current(shop, card)["text"]

    # Dave pays the rest with the offered button, and asks to stay anonymous on the card.
    offer = await open_request(shop, dave, request)
    assert "$40.00 of $100.00 is left" in offer["text"]
    await emu.click(dave, offer, "Show my name on the card: yes")
    redrawn = await emu.wait_for(
        lambda: "Show my name on the card: no" in str(current(shop, offer).get("reply_markup")) and current(shop, offer)
    )
    await emu.click(dave, redrawn, "Pay all that is left")
    methods = await emu.wait_for(
        lambda: "How do you want to pay" in current(shop, offer)["text"] and current(shop, offer)
    )
    await emu.click(dave, methods, "sandbox")
    page = await emu.click(dave, await shop.told(dave, "Open the checkout page"), "Open checkout page")
    await shop.post(page, data={"decision": "pay"})

    done = await shop.told(shop.alice, "covered the whole order")
    assert "A friend" in done["text"]  # Dave stays anonymous
    await emu.wait_for(lambda: "Covered by friends ✅" in current(shop, card)["text"])
    assert "Chipped in: Bob, Carol, someone" in current(shop, card)["text"]
    paid = await shop.daifu.orders.by_token(order)
    assert paid is not None and paid.status == OrderStatus.PAID
    late = await open_request(shop, erin, request)
    assert "already been paid" in late["text"]


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
    stored = await shop.daifu.requests.by_token(request)
    assert stored is not None and stored.status == RequestStatus.EXPIRED


async def test_a_hundred_friends_tap_pay_at_once_and_exactly_one_holds(shop: RunningShop) -> None:
    emu = shop.emu
    order = await shop.new_link("/newlink 12.50 USD Coffee beans")
    request = await ask_friend(shop, shop.alice, order)
    friends = [emu.add_user(f"Friend{n}", language_code="en") for n in range(100)]
    offers = await asyncio.gather(*(open_request(shop, friend, request) for friend in friends))

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
