"""A Bot API call that fails after the work is done loses none of it: what the work owes people is still told."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from bot.emulator import NoAnswer
from bot.emulator.faults import server_error
from storage.models import Payment, PaymentStatus, RequestStatus
from tests.flows.payforme_steps import ask_friend, current, open_request, share_card
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
    view = await shop.daifu.requests.by_token(request)
    assert view is not None and view.status == RequestStatus.CANCELLED
    async with shop.daifu.db.transaction() as session:
        (payment,) = (await session.exec(select(Payment).where(col(Payment.provider_ref).is_not(None)))).all()
    assert payment.status == PaymentStatus.REFUNDED
