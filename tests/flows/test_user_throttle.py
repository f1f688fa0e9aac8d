"""Fairness per Telegram user: a flooder is told once to slow down and then ignored, while everyone else is
answered and payments (the flooder's own included) go through. Not Telegram's 429s: see test_flood_control.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlmodel import col, func, select

from bot.settings import Settings
from emulator.errors import NoAnswer
from storage.models import OrderStatus, TelegramUpdate
from tests.flows.payforme_steps import open_order
from tests.harness import RunningShop, running_shop

FLOOD = 100
SLOW_DOWN = "Slow down, please"
HELP_REPLY = "/my - "


@pytest.fixture
async def shop(database_url: str, unused_tcp_port: int) -> AsyncIterator[RunningShop]:
    """The shop with the throttle as shipped (the harness relaxes it for the other tests)."""
    shipped = {
        name: Settings.model_fields[name].default
        for name in ("throttle_user_rate", "throttle_user_burst", "throttle_user_pause")
    }
    async with running_shop(database_url, unused_tcp_port, **shipped) as running:
        yield running


async def unfinished_updates(shop: RunningShop) -> int:
    async with shop.daifu.db.transaction() as session:
        statement = select(func.count()).select_from(TelegramUpdate).where(col(TelegramUpdate.done_at).is_(None))
        return (await session.exec(statement)).one()


async def every_update_done(shop: RunningShop) -> None:
    """Wait until the inbox has no update left unfinished: ignored ones are marked done too (or the recovery job
    would hand them to the bot again and again). Done marks are written in batches, a fifth of a second apart."""
    for _ in range(100):
        if await unfinished_updates(shop) == 0:
            return
        await asyncio.sleep(0.1)
    assert await unfinished_updates(shop) == 0


async def test_a_command_flood_gets_one_note_while_others_and_payments_are_served(shop: RunningShop) -> None:
    emu, alice, bob = shop.emu, shop.alice, shop.bob
    token = await shop.new_link("/newlink 12.50 USD Coffee beans")
    card = await open_order(shop, alice, token)
    await emu.click(alice, card, "Pay by card")
    invoice = await emu.next_bot_message(alice)
    assert "invoice" in invoice

    for _ in range(FLOOD):
        await emu.send_text(alice, "/help")
    await emu.send_text(bob, "/help")
    # Alice pays in the middle of her own flood: the pre-checkout is answered, the payment recorded.
    await emu.pay_invoice(alice, invoice)

    assert HELP_REPLY in (await shop.told(bob, HELP_REPLY))["text"]
    await shop.told(alice, "Payment received")
    order = await shop.daifu.orders.by_token(token)
    assert order is not None and order.status == OrderStatus.PAID
    await shop.told(alice, SLOW_DOWN)
    await every_update_done(shop)
    assert shop.times_told(alice, SLOW_DOWN) == 1
    answered = shop.times_told(alice, HELP_REPLY)
    assert 1 <= answered < FLOOD // 5  # the burst, not the flood
    assert shop.times_told(bob, HELP_REPLY) == 1


async def test_a_tap_flood_gets_one_alert_and_the_rest_are_ignored(shop: RunningShop) -> None:
    emu, alice = shop.emu, shop.alice
    card = await open_order(shop, alice, await shop.new_link("/newlink 5 USD Tea"))

    async def tap() -> dict[str, Any] | None:
        try:
            return await emu.click(alice, card, "Ask a friend to pay", timeout=2)
        except NoAnswer:
            return None

    answers = await asyncio.gather(*(tap() for _ in range(40)))

    alerts = [answer for answer in answers if answer is not None and SLOW_DOWN in (answer.get("text") or "")]
    assert len(alerts) == 1 and alerts[0]["show_alert"]
    ignored = answers.count(None)
    assert ignored >= 20  # no answer at all: a flooder costs the bot no calls to Telegram
    await every_update_done(shop)
    # Someone else's tap on the same kind of button is served as usual.
    bobs_card = await open_order(shop, shop.bob, await shop.new_link("/newlink 6 USD Tea"))
    assert (await emu.click(shop.bob, bobs_card, "Ask a friend to pay")).get("text") in (None, "")
