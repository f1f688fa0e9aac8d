"""Pay for me: Alice asks, the card goes into a group, one friend pays, everyone is told, the card updates."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select, update

from handlers.tidying import short_date
from storage.models import OrderStatus, Payment, PaymentStatus, PayRequest, RequestStatus, utcnow
from tests.flows.payforme_steps import ask_friend, current, open_order, open_request, share_card
from tests.harness import RunningShop


async def test_a_friend_in_the_group_pays_and_everyone_is_told(shop: RunningShop) -> None:
    emu = shop.emu
    alice, bob, carol = shop.alice, shop.bob, shop.carol
    group = emu.add_group("Friends", members=[alice, bob, carol])
    order = await shop.new_link("/newlink 12.50 USD Coffee beans")
    request = await ask_friend(shop, alice, order, note="happy birthday to me")

    card = await share_card(shop, alice, request, group)
    assert "Alice" in card["text"] and "Coffee beans" in card["text"] and "$12.50" in card["text"]
    assert "happy birthday to me" in card["text"] and order not in card["text"]  # nothing else of the order
    link = await emu.click(bob, card, "Pay for Alice")
    assert request in link

    await emu.open_link(bob, link)
    offer = await emu.next_bot_message(bob)
    assert "Alice asks you to pay $12.50 for Coffee beans at Bean There" in offer["text"]
    assert "happy birthday to me" in offer["text"]
    await emu.click(bob, offer, "sandbox")
    page_url = await emu.click(bob, await shop.told(bob, "Open the checkout page"), "Open checkout page")
    await emu.wait_for(lambda: "Bob is paying" in current(shop, card)["text"])

    carol_sees = await open_request(shop, carol, request)
    assert "Bob is paying for this right now" in carol_sees["text"]
    # When she may pay, in words relative to now (no UTC clock time).
    assert "If they have not finished, you can pay in " in carol_sees["text"] and "UTC" not in carol_sees["text"]
    assert not carol_sees.get("reply_markup")

    status, _page = await shop.post(page_url, data={"decision": "pay"})
    assert status == 200
    told_alice = await shop.told(alice, "paid for you")
    assert "Bob paid for you" in told_alice["text"] and "Coffee beans" in told_alice["text"]
    receipt = await shop.told(bob, "Payment received")
    assert "You paid for Alice." in receipt["text"]
    # Bob is told what happens next: who knows, who gets the order, where the receipt stays.
    assert (
        "What happens next: Alice and the shop have been told, and the shop delivers the order to Alice, not to you."
        "\nYou can find this receipt again in /my."
    ) in receipt["text"]
    note = await shop.told(shop.admin, "Bob paid $12.50")
    assert "on behalf of Alice" in note["text"]
    await emu.wait_for(lambda: "Paid by Bob ✅" in current(shop, card)["text"])
    assert not current(shop, card).get("reply_markup")  # no button to pay any more

    after = await open_request(shop, carol, request)
    assert "already been paid" in after["text"]
    order_now = await shop.daifu.orders.by_token(order)
    assert order_now is not None and order_now.status == OrderStatus.PAID and order_now.payer_id == bob.id
    stored = await shop.daifu.request_views.by_token(request)
    assert stored is not None and stored.status == RequestStatus.PAID and stored.requester_id == alice.id


async def group_invoice(shop: RunningShop, command: str, provider: str) -> tuple[dict, str, object]:
    """Alice asks for the order and posts a Telegram invoice for it into a group of her friends."""
    emu = shop.emu
    group = emu.add_group("Friends", members=[shop.alice, shop.bob, shop.carol])
    order = await shop.new_link(command)
    request = await ask_friend(shop, shop.alice, order)
    results = await emu.inline_query(shop.alice, request, chat_type="group")
    chosen = next(r for r in results if r["id"].startswith(f"invoice:{provider}:"))
    return await emu.choose_inline_result(shop.alice, chosen, chat=group), request, group


def pay_button(message: dict) -> str | None:  # type: ignore[type-arg]
    """The label of an invoice's Pay button, when it carries a keyboard of its own."""
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or [[{}]]
    return rows[0][0].get("text") if rows[0][0].get("pay") else None


async def lapse_hold(shop: RunningShop, request_token: str) -> None:
    async with shop.daifu.db.transaction() as session:
        await session.exec(
            update(PayRequest)
            .where(PayRequest.token == request_token)
            .values(hold_until=utcnow() - timedelta(seconds=1))  # type: ignore[arg-type]
        )


async def charges(shop: RunningShop) -> list[tuple[PaymentStatus, bool, int | None]]:
    async with shop.daifu.db.transaction() as session:
        payments = (await session.exec(select(Payment).where(col(Payment.provider_ref).is_not(None)))).all()
    return sorted((p.status, p.credited, p.payer_id) for p in payments)


async def test_group_stars_invoice_is_held_at_pre_checkout_and_a_late_second_payment_goes_back(
    shop: RunningShop,
) -> None:
    emu, bob, carol = shop.emu, shop.bob, shop.carol
    invoice, request, _group = await group_invoice(shop, "/newlink 50 XTR Sticker pack", "stars")
    assert invoice["invoice"]["currency"] == "XTR" and invoice["invoice"]["total_amount"] == 50
    # Whose order it is, rather than the title twice.
    assert invoice["invoice"]["title"] == "Sticker pack — for Alice"
    assert invoice["invoice"]["description"].startswith("Alice asked you to pay for this order at Bean There.")

    assert (await emu.pre_checkout(bob, invoice))["ok"] is True  # Bob starts paying: he holds the request
    refused = await emu.pre_checkout(carol, invoice)
    assert refused["ok"] is False and "Someone else is paying" in refused["error_message"]

    # Bob takes longer than the hold; Carol pays; then Bob's payment completes anyway (Telegram does
    # not ask again). His is the later one: it goes back to him.
    await lapse_hold(shop, request)
    await emu.pay_invoice(carol, invoice)
    await shop.told(shop.alice, "Carol paid for you")
    # The bot knows no chat to write a note in: the invoice's Pay button says it is paid instead.
    today = short_date(utcnow(), "en")
    await emu.wait_for(lambda: pay_button(current(shop, invoice)) == f"Paid by Carol ✅ · {today}")
    late = await emu.pay_invoice(bob, invoice, already_approved=True)

    told = await shop.told(bob, "has been refunded")
    assert "already been paid by someone else" in told["text"]
    assert [r["telegram_payment_charge_id"] for r in emu.star_refunds] == [
        late["successful_payment"]["telegram_payment_charge_id"]
    ]
    assert await charges(shop) == sorted(
        [(PaymentStatus.SUCCEEDED, True, carol.id), (PaymentStatus.REFUNDED, False, bob.id)]
    )
    assert shop.times_told(shop.alice, "paid for you") == 1


async def test_a_late_second_card_payment_is_recorded_as_a_refund_owed(shop: RunningShop) -> None:
    emu, bob, carol = shop.emu, shop.bob, shop.carol
    invoice, request, _group = await group_invoice(shop, "/newlink 12.50 USD Coffee beans", "telegram")
    assert (await emu.pre_checkout(bob, invoice))["ok"] is True
    await lapse_hold(shop, request)
    await emu.pay_invoice(carol, invoice)
    await shop.told(shop.alice, "Carol paid for you")

    await emu.pay_invoice(bob, invoice, already_approved=True)

    told = await shop.told(bob, "will be refunded by the shop")
    assert "$12.50" in told["text"]
    owed = await shop.told(shop.admin, "Refund owed")
    assert "$12.50" in owed["text"]
    assert await charges(shop) == sorted(
        [(PaymentStatus.SUCCEEDED, True, carol.id), (PaymentStatus.REFUND_OWED, False, bob.id)]
    )
    assert emu.star_refunds == []


async def test_a_card_posted_after_the_request_was_paid_is_drawn_again(shop: RunningShop) -> None:
    """Telegram says a card was posted only afterwards (perhaps to another worker): if a friend paid meanwhile,
    the card as posted is out of date, and the bot redraws it rather than leave "Pay for Alice" up."""
    emu, alice, bob = shop.emu, shop.alice, shop.bob
    group = emu.add_group("Friends", members=[alice, bob, shop.carol])
    request = await ask_friend(shop, alice, await shop.new_link("/newlink 12.50 USD Coffee beans"))
    results = await emu.inline_query(alice, request, chat_type="group")  # Alice opens the chat picker...

    offer = await open_request(shop, bob, request)  # ...while Bob, sent the link, pays at once
    await emu.click(bob, offer, "sandbox")
    page = await emu.click(bob, await shop.told(bob, "Open the checkout page"), "Open checkout page")
    assert (await shop.post(page, data={"decision": "pay"}))[0] == 200
    await shop.told(alice, "Bob paid for you")

    card = await emu.choose_inline_result(alice, next(r for r in results if r["id"].startswith("card:")), chat=group)
    assert "Pay for Alice" in str(card.get("reply_markup"))  # as drawn when the picker opened
    redrawn = await emu.wait_for(lambda: "Paid by Bob" in current(shop, card)["text"] and current(shop, card))
    assert not redrawn.get("reply_markup")


async def test_a_card_posted_while_nothing_changed_is_not_edited(shop: RunningShop) -> None:
    emu, alice = shop.emu, shop.alice
    group = emu.add_group("Friends", members=[alice, shop.bob])
    request = await ask_friend(shop, alice, await shop.new_link("/newlink 12.50 USD Coffee beans"))
    card = await share_card(shop, alice, request, group)
    await emu.send_text(alice, "/help")  # handled after the chosen result: by then any edit would be made
    await shop.told(alice, "/my")
    assert not any(method == "editMessageText" for method, _params in emu.world.calls)
    assert "Pay for Alice" in str(current(shop, card).get("reply_markup"))


async def test_pre_checkout_renews_a_friends_hold_only_when_it_is_running_out(shop: RunningShop) -> None:
    emu, bob = shop.emu, shop.bob
    request = await ask_friend(shop, shop.alice, await shop.new_link("/newlink 12.50 USD Coffee beans"))
    await emu.click(bob, await open_request(shop, bob, request), "Pay by card")
    invoice = await emu.wait_for(lambda: next((m for m in emu.bot_messages(bob) if "invoice" in m), None))
    assert invoice["invoice"]["title"] == "Coffee beans — for Alice"
    held = await shop.daifu.request_views.by_token(request)
    assert held is not None and held.hold_until is not None

    assert (await emu.pre_checkout(bob, invoice))["ok"] is True  # moments after the tap: the hold stands as is
    same = await shop.daifu.request_views.by_token(request)
    assert same is not None and same.hold_until == held.hold_until

    async with shop.daifu.db.transaction() as session:  # Bob dawdled on the payment sheet
        await session.exec(
            update(PayRequest)
            .where(col(PayRequest.token) == request)
            .values(hold_until=utcnow() + timedelta(seconds=30))
        )
    assert (await emu.pre_checkout(bob, invoice))["ok"] is True
    renewed = await shop.daifu.request_views.by_token(request)
    assert renewed is not None and renewed.hold_until is not None
    assert renewed.hold_until > utcnow() + timedelta(minutes=1)


async def test_asking_a_friend_can_be_cancelled_at_every_step(shop: RunningShop) -> None:
    emu, alice = shop.emu, shop.alice
    order = await shop.new_link("/newlink 12 USD Team lunch")
    for choice, steps in (("Split with friends", ["How many friends", "Add a note"]), ("Ask a friend to pay", [])):
        for cancel_at in range(len(steps) or 1):
            start = shop.last_message_id(alice)
            card = await open_order(shop, alice, order)
            await emu.click(alice, card, choice)
            prompt = await shop.told(alice, "How many friends" if steps else "Add a note", after=start)
            if cancel_at == 1:
                await emu.click(alice, prompt, "3")
                prompt = await shop.told(alice, "Add a note", after=prompt["message_id"])
            assert prompt["reply_markup"]["inline_keyboard"][-1][0]["text"] == "Cancel"
            await emu.click(alice, prompt, "Cancel")
            await shop.told(alice, "Cancelled. No request was made.", after=start)
    # /cancel too, while the note is awaited
    start = shop.last_message_id(alice)
    await emu.click(alice, await open_order(shop, alice, order), "Ask a friend to pay")
    await shop.told(alice, "Add a note", after=start)
    await emu.send_text(alice, "/cancel")
    await shop.told(alice, "Cancelled. No request was made.", after=start)
    async with shop.daifu.db.transaction() as session:
        assert (await session.exec(select(PayRequest))).all() == []
