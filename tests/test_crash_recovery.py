"""A worker killed with SIGKILL in the middle of a payment loses nothing: after a restart the payment is
applied once and every message owed is sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import update

from emulator import BotApiEmulator
from emulator.state import User
from storage.database import Database
from storage.models import Order, OrderStatus, TelegramUpdate, utcnow
from tests.harness import BOT_USERNAME
from tests.test_kill_points import Locks, postgres_only
from tests.workers import Worker


@pytest.fixture
async def emu() -> AsyncIterator[BotApiEmulator]:
    async with BotApiEmulator(token="123456:TEST-crash", bot_username=BOT_USERNAME, bot_name="daifu") as emulator:
        emulator.world.allow_http_webhooks = True
        yield emulator


async def registered(emu: BotApiEmulator) -> None:
    await emu.wait_for(lambda: emu.world.webhook is not None, timeout=30)


async def tea_invoice(emu: BotApiEmulator, admin: User, alice: User) -> dict[str, Any]:
    """The admin makes a $7.00 link; Alice opens it and taps "Pay by card": the invoice she gets."""
    await emu.send_text(admin, "/newlink 7 USD Tea")
    link = await emu.next_bot_message(admin, timeout=30)
    token = link["caption"].split("?start=", 1)[1].split()[0]
    await emu.open_link(alice, f"https://t.me/{BOT_USERNAME}?start={token}")
    await emu.click(alice, await emu.next_bot_message(alice, timeout=15), "Pay by card", timeout=15)
    return await emu.next_bot_message(alice, timeout=15)


async def test_killed_between_pre_checkout_and_payment_nothing_is_lost(
    emu: BotApiEmulator, database_url: str, tmp_path: Path
) -> None:
    admin, alice = emu.add_user("Ada"), emu.add_user("Alice")
    worker = Worker(emu, database_url, admin.id, tmp_path)
    worker.start()
    try:
        await registered(emu)
        invoice = await tea_invoice(emu, admin, alice)
        assert (await emu.pre_checkout(alice, invoice))["ok"] is True

        worker.kill()  # the bot said yes to Telegram, then died before the payment came through
        paid = await emu.pay_invoice(alice, invoice, already_approved=True)
        await asyncio.sleep(1.5)  # Telegram keeps trying the dead webhook meanwhile
        assert emu.webhooks.failures, "the update should have failed to arrive while the worker was down"

        worker.start()
        receipt = await emu.wait_for(
            lambda: next((m for m in emu.bot_messages(alice) if "Payment received" in m.get("text", "")), None),
            timeout=30,
        )
        assert "$7.00" in receipt["text"]
        await emu.wait_for(lambda: any("Alice paid" in m.get("text", "") for m in emu.bot_messages(admin)), timeout=15)

        # The same update once more (a retry that crossed the restart): still one payment.
        await emu.webhooks.post(next(u for u in emu.webhooks.delivered if "successful_payment" in u.get("message", {})))
        await emu.send_text(alice, "/help")
        await emu.wait_for(lambda: "/my" in emu.bot_messages(alice)[-1].get("text", ""), timeout=15)
        assert sum("Payment received" in m.get("text", "") for m in emu.bot_messages(alice)) == 1
        assert paid["successful_payment"]["total_amount"] == 700
    finally:
        worker.stop()
    db = Database(database_url)
    try:
        async with db.transaction() as session:
            order = await session.get(Order, 1)
        assert order is not None and order.status == OrderStatus.PAID
    finally:
        await db.dispose()


async def test_polling_killed_while_handling_a_payment_telegram_has_forgotten_nothing_is_lost(
    emu: BotApiEmulator, database_url: str, tmp_path: Path
) -> None:
    """In polling mode Telegram forgets an update once the next getUpdates confirms it, which comes while the
    update is still being handled. The journal has it: after a restart it is handled, once."""
    postgres_only(database_url)
    locks = Locks(database_url)
    admin, alice = emu.add_user("Ada"), emu.add_user("Alice")
    worker = Worker(emu, database_url, admin.id, tmp_path, polling=True)
    worker.start()
    db = Database(database_url)
    try:
        invoice = await tea_invoice(emu, admin, alice)

        await locks.hold("SELECT id FROM payments FOR UPDATE")  # the worker stops at crediting the charge
        await emu.pay_invoice(alice, invoice, timeout=15)
        await locks.worker_waits()
        await emu.wait_for(lambda: emu.world.updates.pending_count == 0, timeout=15)  # confirmed to Telegram
        worker.kill()
        await locks.close()
        async with db.transaction() as session:  # the half minute before an unfinished update counts as lost
            await session.exec(update(TelegramUpdate).values(received_at=utcnow() - timedelta(minutes=1)))

        worker.start()
        await emu.wait_for(lambda: any("Payment received" in m.get("text", "") for m in emu.bot_messages(alice)), 30)
        await emu.send_text(alice, "/help")
        await emu.wait_for(lambda: "/my" in emu.bot_messages(alice)[-1].get("text", ""), timeout=15)
        assert sum("Payment received" in m.get("text", "") for m in emu.bot_messages(alice)) == 1
        async with db.transaction() as session:
            order = await session.get(Order, 1)
        assert order is not None and order.status == OrderStatus.PAID
    finally:
        worker.stop()
        await locks.close()
        await db.dispose()


async def test_sigterm_lets_the_worker_finish_and_exit_cleanly(
    emu: BotApiEmulator, database_url: str, tmp_path: Path
) -> None:
    admin = emu.add_user("Ada")
    worker = Worker(emu, database_url, admin.id, tmp_path)
    worker.start()
    await registered(emu)
    await emu.send_text(admin, "/help")
    await emu.next_bot_message(admin, timeout=30)
    worker.stop()
    assert worker.process is not None and worker.process.returncode == 0
    assert "Traceback" not in (tmp_path / "worker.log").read_text()
