"""Two workers behind a load balancer, on one database, in webhook mode: any update may reach either,
a guided flow goes on whichever worker takes the next step, and a duplicate delivery is applied once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from emulator import BotApiEmulator
from storage.models import OrderStatus
from tests.balancer import Balancer
from tests.harness import BOT_USERNAME, RunningShop
from tests.ports import free_port

SECRET = "two-workers-secret"


@pytest.fixture
async def two_workers(database_url: str) -> AsyncIterator[tuple[RunningShop, RunningShop, Balancer]]:
    ports = [free_port(), free_port()]
    # In turn rather than at random: each step of the guided flow then reaches the other worker from the step
    # before, every run (a random pick once sent all 13 requests of a CI run to one worker).
    balancer = Balancer([f"http://127.0.0.1:{port}" for port in ports], alternate=True)
    await balancer.start()
    async with BotApiEmulator(token="123456:TEST-daifu", bot_username=BOT_USERNAME, bot_name="daifu") as emu:
        common = {"run_mode": "webhook", "webhook_secret": SECRET, "public_base_url": balancer.url}
        first = RunningShop(emu, database_url, ports[0], **common)
        second = RunningShop(emu, database_url, ports[1], same_people_as=first, **common)
        await first.start()
        await second.start()
        try:
            yield first, second, balancer
        finally:
            await second.stop()
            await first.stop()
            await balancer.stop()


async def test_a_guided_flow_and_a_payment_go_on_across_two_workers(
    two_workers: tuple[RunningShop, RunningShop, Balancer],
) -> None:
    shop, _other, balancer = two_workers
    emu, admin = shop.emu, shop.admin

    await emu.send_text(admin, "/newlink")
    await shop.told(admin, "What is the amount?")
    await emu.send_text(admin, "4.20")
    currency = await shop.told(admin, "Which currency?")
    await emu.click(admin, currency, "EUR")
    await shop.told(admin, "What is it for?")
    await emu.send_text(admin, "Postcards")
    confirm = await shop.told(admin, "Create a link for")
    await emu.click(admin, confirm, "Create link")
    link = await shop.told(admin, "New checkout link")
    token = link["caption"].split("?start=", 1)[1].split()[0]

    await emu.open_link(shop.alice, f"https://t.me/{BOT_USERNAME}?start={token}")
    card = await shop.told(shop.alice, "Postcards")
    await emu.click(shop.alice, card, "Pay by card")
    invoice = await emu.wait_for(lambda: next((m for m in emu.bot_messages(shop.alice) if "invoice" in m), None))
    await emu.pay_invoice(shop.alice, invoice)
    await shop.told(shop.alice, "Payment received")

    # Telegram retries the payment's update (a time-out): whichever worker gets it, it is applied once.
    paid = next(u for u in emu.webhooks.delivered if "successful_payment" in u.get("message", {}))
    for _ in range(3):
        assert await emu.webhooks.post(paid)
    await emu.send_text(shop.alice, "/help")
    await shop.told(shop.alice, "/my")

    assert shop.times_told(shop.alice, "Payment received") == 1
    assert shop.times_told(admin, "New checkout link") == 1
    order = await shop.daifu.orders.by_token(token)
    assert order is not None and order.status == OrderStatus.PAID and order.amount_minor == 420
    assert len(balancer.picked) == 2  # both workers took updates
