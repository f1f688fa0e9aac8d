"""Stars reconciled with Telegram's own ledger.

The ledger (getStarTransactions, oldest first) is read page by page from where the last reading stopped, and
every transaction matched by its charge id: a payment whose update never reached daifu is credited as the
update would have credited it, Stars for an invoice daifu does not know are given back as an orphan, a refund
made outside daifu is put on the books (whether its refunded_payment message arrives or not), a refund daifu
made that Telegram lost is asked for again (as are Stars daifu gave back as an orphan), and what matches nothing
is shown to the admins in /providers.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, delete, select, update

from bot.stars_ledger_job import BotStarLedger
from services import stars_ledger
from services.notices import ReturnReason
from storage.models import OrderStatus, OrphanCharge, Payment, Refund, StarLedgerEntry, utcnow
from tests.flows.test_orphan_charges import old_invoice
from tests.harness import BOT_USERNAME, RunningShop


async def stars_invoice(shop: RunningShop, person: Any, token: str) -> dict[str, Any]:
    await shop.emu.open_link(person, f"https://t.me/{BOT_USERNAME}?start={token}")
    card = await shop.emu.next_bot_message(person)
    await shop.emu.click(person, card, "Stars")
    invoice = await shop.emu.next_bot_message(person)
    assert "invoice" in invoice, invoice
    return invoice


async def read_ledger(shop: RunningShop) -> None:
    """Run the ledger's periodic reading now instead of waiting for it, and what it recorded told."""
    assert shop.runtime is not None and shop.runtime.application.job_queue is not None
    (job,) = shop.runtime.application.job_queue.get_jobs_by_name("stars_ledger")
    await job.run(shop.runtime.application)
    await shop.all_told()


async def ledger_rows(shop: RunningShop) -> list[tuple[str, bool, str]]:
    async with shop.daifu.db.transaction() as session:
        rows = (await session.exec(select(StarLedgerEntry).order_by(col(StarLedgerEntry.position)))).all()
        return [(row.charge_id, row.incoming, row.matched) for row in rows]


async def order_status(shop: RunningShop, token: str) -> OrderStatus:
    order = await shop.daifu.orders.by_token(token)
    assert order is not None
    return order.status


async def providers_page(shop: RunningShop) -> str:
    sent = await shop.emu.send_text(shop.admin, "/providers")
    return str((await shop.told(shop.admin, "Payment providers", after=sent["message_id"]))["text"])


async def test_the_stars_ledger_is_matched_with_the_books(shop: RunningShop, monkeypatch: pytest.MonkeyPatch) -> None:
    emu = shop.emu
    monkeypatch.setattr(stars_ledger, "PAGE", 3)  # small pages: the reading goes on page by page
    await emu.send_text(shop.admin, "/help")  # the admin's chat with the bot is open
    await emu.next_bot_message(shop.admin)
    assert "Not read yet." in await providers_page(shop)

    # Alice pays a Stars order in the chat. Carol pays hers, and Telegram takes the Stars, but the update never
    # reaches daifu. Bob's Stars arrive for an invoice daifu does not know. The owner withdrew Stars to Fragment,
    # and the ledger shows a refund of a charge nobody here knows.
    stickers = await shop.new_link("/newlink 50 XTR Sticker pack")
    paid = await emu.pay_invoice(shop.alice, await stars_invoice(shop, shop.alice, stickers))
    alice_charge = paid["successful_payment"]["telegram_payment_charge_id"]
    await shop.told(shop.alice, "Payment received")
    emoji = await shop.new_link("/newlink 40 XTR Emoji pack")
    invoice = await stars_invoice(shop, shop.carol, emoji)
    payload = emu.world.invoices[(shop.carol.id, invoice["message_id"])].payload
    carol_charge = emu.stars_paid_unseen(shop.carol, 40, payload=payload)
    bob_charge = emu.stars_paid_unseen(shop.bob, 30, payload="chk_from_another_deployment")
    now = emu.world.now()
    # Three days old, from before daifu's records: the admins' call, not given back unasked.
    payer = {"type": "user", "transaction_type": "invoice_payment", "user": emu.world.user(shop.carol).to_api()}
    old = {"id": "stx_from_before", "amount": 70, "date": now - 3 * 86400, "source": payer | {"invoice_payload": "x"}}
    emu.add_star_transaction(old)
    emu.add_star_transaction({"id": "wd-1", "amount": 500, "date": now, "receiver": {"type": "fragment"}})
    stranger = {"type": "user", "transaction_type": "invoice_payment", "user": emu.world.user(shop.bob).to_api()}
    emu.add_star_transaction({"id": "stx_nobody_knows", "amount": 9, "date": now, "receiver": stranger})
    assert await order_status(shop, emoji) == OrderStatus.PENDING

    await read_ledger(shop)  # all of it made just now: its updates may be on their way, left for later
    assert await ledger_rows(shop) == [] and await order_status(shop, emoji) == OrderStatus.PENDING
    # As if a few minutes had passed at every reading from now on (what is made while one reads is read too).
    monkeypatch.setattr(stars_ledger, "ON_ITS_WAY", timedelta(minutes=-1))
    await read_ledger(shop)
    receipt = await shop.told(shop.carol, "Payment received")  # credited as its lost update would have been
    assert "40 ⭐" in receipt["text"]
    assert await order_status(shop, emoji) == OrderStatus.PAID
    assert [r["telegram_payment_charge_id"] for r in emu.star_refunds] == [bob_charge]  # the orphan given back
    told = await shop.told(shop.admin, "for a checkout the bot does not know")
    assert bob_charge in told["text"] and "given back to the payer automatically" in told["text"]
    # Bob's refund joined the ledger while it was read: matched too, as the orphan's giving back.
    assert await ledger_rows(shop) == [
        (alice_charge, True, "payment"),
        (carol_charge, True, "payment"),
        (bob_charge, True, "orphan"),
        ("stx_from_before", True, "unmatched"),
        ("wd-1", False, "other"),
        ("stx_nobody_knows", False, "unmatched"),
        (bob_charge, False, "orphan"),
    ]
    assert [call["offset"] for call in emu.calls_to("getStarTransactions")] == [0, 0, 3, 6]
    page = await providers_page(shop)
    assert "7 transactions read" in page and "Not matched with daifu's books: 2" in page
    assert "70 ⭐ received, stx_from_before" in page and "too old to give back unasked" in page
    assert "9 ⭐ sent, stx_nobody_knows (user" in page and "a refund of a payment daifu does not know" in page
    assert "ledger lacks" not in page

    # The owner refunds Alice's order from another program: its refunded_payment message puts it on the books.
    emu.refund_stars_elsewhere(alice_charge)
    refunded = await shop.told(shop.alice, "has been refunded")
    assert "50 ⭐" in refunded["text"]
    await shop.told(shop.admin, "↩️ Refunded 50 ⭐")
    assert await order_status(shop, stickers) == OrderStatus.REFUNDED
    # Carol's is refunded the same way, and that update is lost: the ledger's refund puts it on the books.
    emu.refund_stars_elsewhere(carol_charge, update_lost=True)
    await read_ledger(shop)
    assert await order_status(shop, emoji) == OrderStatus.REFUNDED
    assert "40 ⭐" in (await shop.told(shop.carol, "has been refunded"))["text"]
    assert (await ledger_rows(shop))[7:] == [(alice_charge, False, "refund"), (carol_charge, False, "outside_refund")]
    assert shop.times_told(shop.alice, "has been refunded") == 1  # the message and the ledger: told once
    sent = await emu.send_text(shop.admin, f"/order {emoji}")
    assert "refunded_outside_daifu" in (await shop.told(shop.admin, "Timeline", after=sent["message_id"]))["text"]

    # daifu gives back a third order's Stars, and Stars Carol paid for an invoice daifu does not know, and Telegram
    # loses both refunds.
    tea = await shop.new_link("/newlink 20 XTR Tea stickers")
    paid = await emu.pay_invoice(shop.bob, await stars_invoice(shop, shop.bob, tea))
    bob_tea = paid["successful_payment"]["telegram_payment_charge_id"]
    await shop.told(shop.bob, "Payment received")
    async with shop.daifu.db.transaction() as session:
        payment = (await session.exec(select(Payment).where(col(Payment.provider_ref) == bob_tea))).one()
    assert payment.id is not None
    await shop.daifu.refunds.refund(payment.id, reason=ReturnReason.SHOP_REFUND, actor_id=shop.admin.id)
    await shop.all_told()
    emu.drop_star_refund(bob_tea)
    carol_paid = await emu.pay_invoice(shop.carol, old_invoice("XTR", 25), already_approved=True)
    carol_orphan = carol_paid["successful_payment"]["telegram_payment_charge_id"]
    await emu.wait_for(lambda: emu.world.payments[carol_orphan].refunded)
    await shop.all_told()
    emu.drop_star_refund(carol_orphan)
    async with shop.daifu.db.transaction() as session:  # a while ago: they should be in the ledger by now
        await session.exec(update(Refund).values(created_at=utcnow() - timedelta(minutes=20)))
        # Bob's orphan too, whose giving back the ledger has: not asked again.
        await session.exec(update(OrphanCharge).values(created_at=utcnow() - timedelta(minutes=20)))
    asked = len(emu.calls_to("refundStarPayment"))
    await read_ledger(shop)
    again = {"user_id": shop.bob.id, "telegram_payment_charge_id": bob_tea}
    carol_again = {"user_id": shop.carol.id, "telegram_payment_charge_id": carol_orphan}
    assert emu.calls_to("refundStarPayment")[asked:] == [again, carol_again]
    assert emu.world.payments[carol_orphan].refunded  # Carol has her Stars back
    page = await providers_page(shop)  # in it from the next reading
    assert "Refunds daifu made that the ledger lacks" in page
    assert "Stars for unknown checkouts daifu gave back that the ledger lacks (given back again" in page

    await read_ledger(shop)
    assert (await ledger_rows(shop))[-4:] == [
        (bob_tea, True, "payment"),
        (carol_orphan, True, "orphan"),
        (bob_tea, False, "refund"),
        (carol_orphan, False, "orphan"),
    ]
    asked = len(emu.calls_to("refundStarPayment"))
    await read_ledger(shop)  # nothing new: nothing asked again, nobody told twice
    assert len(emu.calls_to("refundStarPayment")) == asked and len(await ledger_rows(shop)) == 13
    assert shop.times_told(shop.bob, "has been refunded") == 1
    page = await providers_page(shop)
    assert "13 transactions read" in page and "ledger lacks" not in page
    assert "Not matched with daifu's books: 2" in page

    # A give-back the ledger has but daifu's reading lost (Bob's, read long ago): asked again, Telegram answers
    # that the Stars went back already, and that counts as given back.
    async with shop.daifu.db.transaction() as session:
        lost = col(StarLedgerEntry.charge_id) == bob_charge, col(StarLedgerEntry.incoming).is_(False)
        await session.exec(delete(StarLedgerEntry).where(*lost))
    assert shop.runtime is not None
    run = await shop.daifu.stars_ledger.reconcile(BotStarLedger(shop.runtime.application.bot))
    assert run is not None and run.give_backs_asked_again == 1 and run.asked_again == 0
    assert emu.calls_to("refundStarPayment")[asked:] == [
        {"user_id": shop.bob.id, "telegram_payment_charge_id": bob_charge}
    ]
    assert [r["telegram_payment_charge_id"] for r in emu.star_refunds].count(bob_charge) == 1  # given back once

    # A Stars charge on the books that the ledger does not list (settled a while ago) is shown too.
    async with shop.daifu.db.transaction() as session:
        await session.exec(update(Payment).values(settled_at=utcnow() - timedelta(minutes=20)))
        await session.exec(delete(StarLedgerEntry).where(col(StarLedgerEntry.charge_id) == bob_tea))
    assert f"Stars charges daifu recorded that the ledger lacks: 1 ({bob_tea})" in await providers_page(shop)
