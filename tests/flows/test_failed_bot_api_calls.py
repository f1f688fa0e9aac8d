"""A Bot API call that fails after the work is done loses none of it: what the work owes people is still told."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from emulator import NoAnswer
from emulator.faults import server_error, telegram_error
from storage.models import Payment, PaymentStatus, RequestStatus
from tests.flows.payforme_steps import ask_friend, current, open_order, open_request, share_card
from tests.harness import RunningShop


async def test_a_cancel_whose_answer_fails_still_gives_back_and_tells_everyone(shop: RunningShop) -> None:
    emu, alice, bob = shop.emu, shop.alice, shop.bob
    group = emu.add_group("Friends", members=[alice, bob])
    request = await ask_friend(shop, alice, await shop.new_link("/newlink 10 USD Pizza"), shares=2)
    card = await share_card(shop, alice, request, group)
    offer = await open_request(shop, bob, request)
    await emu.click(bob, offer, "Chip in a share")
    methods = await emu.wait_for(lambda: "How do you want to pay" in current(shop, offer)["text"] and offer)
    await emu.click(bob, methods, "sandbox")
    page = await emu.click(bob, await shop.told(bob, "Open the checkout page"), "Open checkout page")
    assert (await shop.post(page, data={"decision": "pay"}))[0] == 200
    await shop.told(alice, "Bob chipped in")

    emu.faults.fail("answerCallbackQuery", fault=server_error(502), times=1)  # the answer to Alice's tap
    with pytest.raises(NoAnswer):
        await emu.click(alice, await shop.told(alice, "Your request is ready"), "Cancel request", timeout=3)

    await shop.told(bob, "your chip-in is given back")
    await emu.wait_for(lambda: "Cancelled" in current(shop, card)["text"])
    view = await shop.daifu.request_views.by_token(request)
    assert view is not None and view.status == RequestStatus.CANCELLED
    async with shop.daifu.db.transaction() as session:
        (payment,) = (await session.exec(select(Payment).where(col(Payment.provider_ref).is_not(None)))).all()
    assert payment.status == PaymentStatus.REFUNDED


async def test_a_receipt_whose_send_meets_a_passing_outage_still_arrives_once(shop: RunningShop) -> None:
    emu, bob = shop.emu, shop.bob
    card = await open_order(shop, bob, await shop.new_link("/newlink 4 USD Tea"))
    await emu.click(bob, card, "sandbox")
    page = await emu.click(bob, await emu.next_bot_message(bob), "Open checkout page")
    to_bob = emu.faults.fail(
        "sendMessage", fault=server_error(502), times=2, when=lambda params: int(params["chat_id"]) == bob.id
    )

    assert (await shop.post(page, data={"decision": "pay"}))[0] == 200

    await shop.told(bob, "Payment received")
    assert to_bob.fired == 2  # two 502s, and the third try went through
    await shop.told(shop.admin, "Tea")
    assert shop.times_told(bob, "Payment received") == 1


async def test_a_receipt_to_someone_who_blocked_the_bot_is_not_tried_again(shop: RunningShop) -> None:
    emu, bob = shop.emu, shop.bob
    card = await open_order(shop, bob, await shop.new_link("/newlink 4 USD Tea"))
    await emu.click(bob, card, "sandbox")
    page = await emu.click(bob, await emu.next_bot_message(bob), "Open checkout page")
    blocked = emu.faults.fail(
        "sendMessage",
        fault=telegram_error(403, "Forbidden: bot was blocked by the user"),
        when=lambda params: int(params["chat_id"]) == bob.id,
    )

    assert (await shop.post(page, data={"decision": "pay"}))[0] == 200

    await shop.told(shop.admin, "Tea")  # the others are told all the same
    assert blocked.fired == 1
