"""A worker killed with SIGKILL at the worst moments of a provider's notice or of a shop callback loses nothing:
after a restart the order ends paid once, every message owed is sent, and the shop gets its callback.

The worker is a real `python -m bot --webhook` process, stopped at the chosen point without any hook in the
bot: the test holds a PostgreSQL row lock the worker needs next (and sees it waiting on it), Telegram never
answers the message the worker is sending, or the shop's callback server never answers. The minute the bot waits
before taking work as lost with its worker is let pass by moving the stored times back while the worker is down.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlmodel import col, func, select, update

from emulator import BotApiEmulator
from emulator.faults import timeout
from emulator.state import User
from payments.base import ChargeOutcome
from payments.sandbox import SandboxGateway
from services.api_keys import ApiKeys
from storage.database import Database
from storage.models import (
    CallbackDelivery,
    LiveMessage,
    Order,
    OrderStatus,
    Payment,
    PaymentStatus,
    ProviderNotice,
    Refund,
    Telling,
    utcnow,
)
from tests.api.test_callbacks import verify
from tests.harness import BOT_USERNAME
from tests.ports import served
from tests.workers import Worker

SANDBOX_SECRET = "kill-points-sandbox-secret"


@pytest.fixture
async def emu() -> AsyncIterator[BotApiEmulator]:
    async with BotApiEmulator(token="123456:TEST-kill", bot_username=BOT_USERNAME, bot_name="daifu") as emulator:
        emulator.world.allow_http_webhooks = True
        yield emulator


@pytest.fixture
async def books(database_url: str) -> AsyncIterator[Database]:
    """The shop's database as the test reads it, beside the worker."""
    db = Database(database_url)
    yield db
    await db.dispose()


def postgres_only(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("holds the worker at its point with a PostgreSQL row lock; SQLite has no row locks")


class Locks:
    """Row locks held by the test in PostgreSQL: the worker stops at the first statement that needs one."""

    def __init__(self, database_url: str) -> None:
        self.engine = create_async_engine(database_url)
        self.held: list[AsyncConnection] = []

    async def hold(self, statement: str, **params: Any) -> AsyncConnection:
        connection = await self.engine.connect()
        await connection.begin()
        assert (await connection.execute(text(statement), params)).all(), "nothing to lock"
        self.held.append(connection)
        return connection

    async def release(self, connection: AsyncConnection) -> None:
        await connection.rollback()
        await connection.close()
        self.held.remove(connection)

    async def worker_waits(self) -> None:
        """Until a session of this database (the worker's) waits on a lock."""

        async def waiting() -> bool:
            async with self.engine.connect() as connection:
                found = await connection.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                )
                return int(found.scalar_one()) > 0

        await eventually(waiting)

    async def close(self) -> None:
        for connection in list(self.held):
            await self.release(connection)
        await self.engine.dispose()


@pytest.fixture
async def locks(database_url: str) -> AsyncIterator[Locks]:
    postgres_only(database_url)
    held = Locks(database_url)
    yield held
    await held.close()


async def eventually(check: Callable[[], Any], timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def started(emu: BotApiEmulator, database_url: str, admin: User, workdir: Path) -> Worker:
    worker = Worker(emu, database_url, admin.id, workdir)
    worker.env["SANDBOX_SECRET"] = SANDBOX_SECRET
    worker.start()
    return worker


async def up(emu: BotApiEmulator, worker: Worker) -> None:
    """Until the worker has its webhook set and answers on its web server."""
    await emu.wait_for(lambda: emu.world.webhook is not None, timeout=30)

    async def ready() -> bool:
        try:
            async with (
                aiohttp.ClientSession() as client,
                client.get(f"http://127.0.0.1:{worker.ops_port}/readyz") as answer,
            ):
                return answer.status == 200
        except aiohttp.ClientError:
            return False

    await eventually(ready)


async def restarted(emu: BotApiEmulator, worker: Worker) -> None:
    emu.world.webhook = None
    worker.start()
    await up(emu, worker)


async def sandbox_checkout(emu: BotApiEmulator, shopper: User, link: str) -> str:
    """The shopper opens the link in Telegram and taps the sandbox: the checkout page's address."""
    await emu.open_link(shopper, link)
    await emu.click(shopper, await emu.next_bot_message(shopper, timeout=15), "sandbox", timeout=15)
    page: str = await emu.click(shopper, await emu.next_bot_message(shopper, timeout=15), "Open checkout page")
    return page


async def new_link(emu: BotApiEmulator, admin: User, command: str) -> str:
    await emu.send_text(admin, command)
    link = await emu.next_bot_message(admin, timeout=30)
    return f"https://t.me/{BOT_USERNAME}?start=" + link["caption"].split("?start=", 1)[1].split()[0]


Notice = tuple[str, dict[str, str], bytes]


def payment_notice(worker: Worker, page: str, outcome: ChargeOutcome = ChargeOutcome.SUCCEEDED) -> Notice:
    """What the sandbox gateway POSTs for the payer's Pay (or Decline) on that page: address, headers, body."""
    gateway = SandboxGateway(SANDBOX_SECRET, worker.env["PUBLIC_BASE_URL"])
    session = gateway.open_session(page.rsplit("/", 1)[1])
    assert session is not None
    headers, body = gateway.signed_notice(session, outcome)
    return gateway.notify_url, headers, body


async def send_notice(url: str, headers: dict[str, str], body: bytes) -> int:
    async with aiohttp.ClientSession() as client, client.post(url, data=body, headers=headers) as answer:
        return answer.status


async def dies_mid_notice(worker: Worker, sending: asyncio.Task[int]) -> None:
    worker.kill()
    with pytest.raises(aiohttp.ClientError):
        await sending  # the provider never got its answer


def times_told(emu: BotApiEmulator, person: User, words: str) -> int:
    return sum(words in message.get("text", "") for message in emu.bot_messages(person))


async def told(emu: BotApiEmulator, person: User, words: str) -> dict[str, Any]:
    found: dict[str, Any] = await emu.wait_for(
        lambda: next((m for m in emu.bot_messages(person) if words in m.get("text", "")), None), timeout=30
    )
    return found


async def tea_told_once(emu: BotApiEmulator, alice: User, admin: User, notice: Notice) -> None:
    """Alice's receipt for the $7.00 tea and Ada's note arrive, and the notice sent once more changes nothing:
    each was told exactly once."""
    receipt = await told(emu, alice, "Payment received")
    assert "$7.00" in receipt["text"]
    await told(emu, admin, "Alice paid $7.00")
    assert await send_notice(*notice) == 200
    await settled(emu, alice)
    await settled(emu, admin)
    assert times_told(emu, alice, "Payment received") == 1 and times_told(emu, admin, "Alice paid") == 1


async def settled(emu: BotApiEmulator, person: User) -> None:
    """Everything the bot was doing for this person is done: its answer to /help comes after it."""
    sent = await emu.send_text(person, "/help")
    await emu.wait_for(
        lambda: any(
            m["message_id"] > sent["message_id"] and "/my" in m.get("text", "") for m in emu.bot_messages(person)
        ),
        timeout=30,
    )


async def the_books(books: Database) -> tuple[Order, list[Payment], list[ProviderNotice]]:
    async with books.transaction() as session:
        order = (await session.exec(select(Order))).one()
        charges = list((await session.exec(select(Payment).where(col(Payment.provider_ref).is_not(None)))).all())
        notices = list((await session.exec(select(ProviderNotice).order_by(col(ProviderNotice.id)))).all())
    return order, charges, notices


async def a_minute_passes(books: Database) -> None:
    earlier = utcnow() - timedelta(minutes=2)
    async with books.transaction() as session:
        await session.exec(update(ProviderNotice).values(received_at=earlier))
        await session.exec(update(Payment).where(col(Payment.settled_at).is_not(None)).values(settled_at=earlier))
        await session.exec(update(Payment).where(col(Payment.declined_at).is_not(None)).values(declined_at=earlier))
        await session.exec(update(Refund).values(created_at=earlier))
        # The dead worker's lease on what it was telling runs out.
        await session.exec(update(Telling).where(col(Telling.done_at).is_(None)).values(claimed_until=earlier))


async def outbox(books: Database) -> list[Telling]:
    async with books.transaction() as session:
        return list((await session.exec(select(Telling).order_by(col(Telling.id)))).all())


async def written_down(books: Database, count: int) -> None:
    """Until the worker has written down this many messages offering to pay. It writes them in batches, a moment
    after sending; a batch written after the payment finds the order paid and records a tidying of its own."""

    async def enough() -> bool:
        async with books.transaction() as session:
            return count <= (await session.exec(select(func.count()).select_from(LiveMessage))).one()

    await eventually(enough)


async def killed_after_applying(
    emu: BotApiEmulator, worker: Worker, locks: Locks, attempt: str, notice: Notice, applied: Callable[[], Any]
) -> None:
    """Send the notice and kill the worker once it is applied, before it is marked applied and answered, and while
    it is sending the first message the change owes (Telegram does not answer, and gets nothing).

    The worker is held at the attempt's row (the notice stored and verified), then at the notice's own row,
    so it goes on to apply the notice and stops before marking it applied: `applied` says when it has.
    """
    emu.faults.fail("sendMessage", fault=timeout(30))
    held_attempt = await locks.hold(attempt)
    sending = asyncio.create_task(send_notice(*notice))
    await locks.worker_waits()
    await locks.hold("SELECT id FROM provider_notices WHERE status = 'received' AND event IS NOT NULL FOR UPDATE")
    await locks.release(held_attempt)
    await eventually(applied)
    await locks.worker_waits()
    await emu.wait_for(lambda: emu.faults.count("sendMessage") > 0)
    await dies_mid_notice(worker, sending)
    emu.faults.clear()
    await locks.close()


async def test_killed_after_the_notice_was_stored_before_it_was_applied_and_never_sent_again(
    emu: BotApiEmulator, database_url: str, locks: Locks, books: Database, tmp_path: Path
) -> None:
    admin, alice = emu.add_user("Ada"), emu.add_user("Alice")
    worker = started(emu, database_url, admin, tmp_path)
    try:
        await up(emu, worker)
        page = await sandbox_checkout(emu, alice, await new_link(emu, admin, "/newlink 7 USD Tea"))
        url, headers, body = payment_notice(worker, page)

        # The worker stores and verifies the notice, then stops on the attempt's row, which the test holds.
        await locks.hold("SELECT id FROM payments FOR UPDATE")
        sending = asyncio.create_task(send_notice(url, headers, body))
        await locks.worker_waits()
        await dies_mid_notice(worker, sending)
        order, charges, [notice] = await the_books(books)
        assert order.status == OrderStatus.PENDING and charges == [] and notice.status == "received"
        await locks.close()

        # The sandbox gateway does not send a notice twice: the stored one is all there is.
        await a_minute_passes(books)
        await restarted(emu, worker)
        # Should the notice come again after all, it changes nothing.
        await tea_told_once(emu, alice, admin, (url, headers, body))
    finally:
        worker.stop()
    order, charges, notices = await the_books(books)
    assert order.status == OrderStatus.PAID and order.payer_id == alice.id
    assert [(charge.credited, charge.amount_minor) for charge in charges] == [(True, 700)]
    assert [notice.status for notice in notices] == ["applied", "applied"]


async def test_killed_after_the_payment_was_applied_before_the_provider_or_anyone_was_told(
    emu: BotApiEmulator, database_url: str, locks: Locks, books: Database, tmp_path: Path
) -> None:
    admin, alice = emu.add_user("Ada"), emu.add_user("Alice")
    worker = started(emu, database_url, admin, tmp_path)
    try:
        await up(emu, worker)
        page = await sandbox_checkout(emu, alice, await new_link(emu, admin, "/newlink 7 USD Tea"))
        notice = url, headers, body = payment_notice(worker, page)

        async def paid() -> bool:
            return (await the_books(books))[0].status == OrderStatus.PAID

        await written_down(books, 2)  # the order view and the checkout page's message
        await killed_after_applying(emu, worker, locks, "SELECT id FROM payments FOR UPDATE", notice, paid)
        order, [charge], [notice] = await the_books(books)
        assert charge.credited and notice.status == "received"
        told_of_it = await outbox(books)
        # The receipt, the admin's note, and the tidying of the messages that offered to pay.
        assert [row.payment_id for row in told_of_it] == [charge.id, charge.id, charge.id]
        assert all(row.done_at is None for row in told_of_it)
        assert times_told(emu, alice, "Payment received") == 0

        # The provider sends the notice again, as real ones do when they got no answer.
        await a_minute_passes(books)
        await restarted(emu, worker)
        assert await send_notice(url, headers, body) == 200
        await tea_told_once(emu, alice, admin, (url, headers, body))
    finally:
        worker.stop()
    order, charges, notices = await the_books(books)
    assert order.status == OrderStatus.PAID
    assert [(charge.credited, charge.amount_minor) for charge in charges] == [(True, 700)]
    assert all(row.done_at is not None for row in await outbox(books))
    assert {notice.status for notice in notices} == {"applied"}


async def test_killed_after_a_decline_was_applied_the_payer_is_told_after_the_restart(
    emu: BotApiEmulator, database_url: str, locks: Locks, books: Database, tmp_path: Path
) -> None:
    admin, alice = emu.add_user("Ada"), emu.add_user("Alice")
    worker = started(emu, database_url, admin, tmp_path)
    try:
        await up(emu, worker)
        page = await sandbox_checkout(emu, alice, await new_link(emu, admin, "/newlink 7 USD Tea"))
        declined = payment_notice(worker, page, ChargeOutcome.DECLINED)

        async def applied() -> bool:
            return [charge.status for charge in await attempts(books)] == [PaymentStatus.DECLINED]

        await killed_after_applying(emu, worker, locks, "SELECT id FROM payments FOR UPDATE", declined, applied)
        assert times_told(emu, alice, "was declined") == 0

        await a_minute_passes(books)  # the sandbox sends nothing again: the stored notice and the books say it all
        await restarted(emu, worker)
        notice = await told(emu, alice, "was declined")
        assert "Tea ($7.00) was declined" in notice["text"] and "You were not charged" in notice["text"]

        # She tries again on the same page, and pays: one receipt, and the decline is not told twice.
        assert await send_notice(*payment_notice(worker, page)) == 200
        await told(emu, alice, "Payment received")
        await settled(emu, alice)
        assert times_told(emu, alice, "was declined") == 1 and times_told(emu, alice, "Payment received") == 1
    finally:
        worker.stop()
    order, charges, notices = await the_books(books)
    assert order.status == OrderStatus.PAID and [charge.credited for charge in charges] == [True]
    assert {notice.status for notice in notices} == {"applied"}


async def test_killed_after_giving_back_a_late_second_payment_its_payer_is_told_after_the_restart(
    emu: BotApiEmulator, database_url: str, locks: Locks, books: Database, tmp_path: Path
) -> None:
    admin, alice, bob = emu.add_user("Ada"), emu.add_user("Alice"), emu.add_user("Bob")
    worker = started(emu, database_url, admin, tmp_path)
    try:
        await up(emu, worker)
        link = await new_link(emu, admin, "/newlink 7 USD Tea")
        alices = payment_notice(worker, await sandbox_checkout(emu, alice, link))
        bobs = payment_notice(worker, await sandbox_checkout(emu, bob, link))
        assert await send_notice(*alices) == 200
        await told(emu, alice, "Payment received")

        async def given_back() -> bool:
            async with books.transaction() as session:
                return [r.status for r in (await session.exec(select(Refund))).all()] == ["done"]

        # Bob paid too, a moment later: his money goes back at once; the worker dies before telling anyone.
        bob_attempt = f"SELECT id FROM payments WHERE payer_id = {bob.id} FOR UPDATE"
        await killed_after_applying(emu, worker, locks, bob_attempt, bobs, given_back)
        assert times_told(emu, bob, "refunded") == 0

        await a_minute_passes(books)
        await restarted(emu, worker)
        notice = await told(emu, bob, "Your payment of $7.00 has been refunded")
        assert "The order had already been paid by someone else." in notice["text"]
        await told(emu, admin, "↩️ Refunded $7.00 for order")
        assert await send_notice(*bobs) == 200  # the provider's retry: nothing more is given back
        await settled(emu, bob)
        await settled(emu, admin)
        assert times_told(emu, bob, "has been refunded") == 1 and times_told(emu, bob, "Payment received") == 0
        assert times_told(emu, admin, "↩️ Refunded $7.00") == 1
    finally:
        worker.stop()
    order, charges, _notices = await the_books(books)
    assert order.status == OrderStatus.PAID and order.payer_id == alice.id
    kept = [(c.payer_id, c.credited, c.status, c.refunded_minor) for c in sorted(charges, key=lambda c: c.id or 0)]
    assert kept == [(alice.id, True, PaymentStatus.SUCCEEDED, 0), (bob.id, False, PaymentStatus.REFUNDED, 700)]


async def attempts(books: Database) -> list[Payment]:
    async with books.transaction() as session:
        return list((await session.exec(select(Payment).order_by(col(Payment.id)))).all())


@dataclass
class ShopBackend:
    """The shop's server for callbacks: the first POST never gets an answer while the worker lives."""

    url: str = ""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    answer_the_first: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        if len(self.received) == 1:
            await self.answer_the_first.wait()
        return web.Response(text="ok")


@pytest.fixture
async def backend() -> AsyncIterator[ShopBackend]:
    shop = ShopBackend()
    app = web.Application()
    app.router.add_post("/daifu", shop.handle)
    async with served(app) as base:
        shop.url = f"{base}/daifu"
        yield shop
        shop.answer_the_first.set()


async def arrived(backend: ShopBackend, count: int) -> bool:
    return len(backend.received) >= count


async def deliveries(books: Database) -> list[CallbackDelivery]:
    async with books.transaction() as session:
        return list((await session.exec(select(CallbackDelivery).order_by(col(CallbackDelivery.id)))).all())


async def test_killed_while_posting_a_callback_the_shop_gets_it_after_the_restart(
    emu: BotApiEmulator, database_url: str, books: Database, backend: ShopBackend, tmp_path: Path
) -> None:
    admin, alice = emu.add_user("Ada"), emu.add_user("Alice")
    worker = started(emu, database_url, admin, tmp_path)
    try:
        await up(emu, worker)
        key = await ApiKeys(books).create("Acme", created_by=None)
        async with aiohttp.ClientSession() as client:
            async with client.post(
                worker.env["PUBLIC_BASE_URL"] + "/api/v1/orders",
                json={"amount_minor": 1250, "currency": "USD", "title": "Coffee beans", "callback_url": backend.url},
                headers={"Authorization": f"Bearer {key.key}", "Idempotency-Key": str(uuid.uuid4())},
            ) as answer:
                assert answer.status == 201
                order = await answer.json()
            page = await sandbox_checkout(emu, alice, order["deep_link"])
            async with client.post(page, data={"decision": "pay"}) as answer:
                assert answer.status == 200 and "Payment accepted" in await answer.text()

        # The callback job POSTs order.paid (within its 30 s round); the shop's server hangs; the worker dies.
        await eventually(lambda: arrived(backend, 1), timeout=40)
        worker.kill()
        backend.answer_the_first.set()
        [row] = await deliveries(books)
        assert row.delivered_at is None and row.leased_until is not None
        assert row.leased_until <= utcnow() + timedelta(minutes=1)  # the dead worker's claim runs out

        async with books.transaction() as session:  # and a minute later it has
            lease = row.leased_until - timedelta(minutes=2)
            await session.exec(
                update(CallbackDelivery).where(col(CallbackDelivery.id) == row.id).values(leased_until=lease)
            )
        await restarted(emu, worker)
        await eventually(lambda: arrived(backend, 2), timeout=40)

        async def delivered() -> bool:
            return (await deliveries(books))[0].delivered_at is not None

        await eventually(delivered)
    finally:
        worker.stop()
    (first_headers, first_body), (headers, body) = backend.received
    assert body == first_body and headers["Daifu-Event-Id"] == first_headers["Daifu-Event-Id"] == row.event_id
    assert verify(key.callback_secret, body, headers["Daifu-Signature"])
    event = json.loads(body)
    assert event["type"] == "order.paid" and event["order"]["id"] == order["id"]
    assert event["order"]["status"] == "paid" and event["amounts"]["paid"] == [
        {"amount_minor": 1250, "currency": "USD"}
    ]
    [row] = await deliveries(books)
    assert row.delivered_at is not None and row.leased_until is None
