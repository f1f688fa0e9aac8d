"""A charge, refund or decline applied by a worker that died before telling anyone is told later by the
housekeeping job, once the dead worker's lease on its rows of the outbox has run out: every receipt, refund notice
and decline notice owed is sent, once."""

from __future__ import annotations

from sqlmodel import col, select, update

from emulator.state import User
from payments.base import ChargeOutcome, PaymentEvent
from payments.sandbox import SIGNATURE_HEADER, SandboxGateway
from services.notices import ReturnReason
from storage.models import Order, Payment, Refund
from tests.flows.test_admin_reports import pay_on_sandbox, say
from tests.harness import RunningShop


async def test_a_receipt_never_sent_is_sent_by_the_housekeeping_job_once(shop: RunningShop) -> None:
    emu, alice = shop.emu, shop.alice
    await emu.send_text(alice, "/help")
    await shop.told(alice, "/my")
    token = await shop.new_link("/newlink 9 USD Candles")
    checkout = await shop.daifu.checkouts.start(token, "sandbox", payer_id=alice.id)
    gateway = shop.daifu.providers["sandbox"]
    assert isinstance(gateway, SandboxGateway) and checkout.url is not None
    session = gateway.open_session(checkout.url.rsplit("/", 1)[1])
    assert session is not None
    headers, body = gateway.signed_notice(session, ChargeOutcome.SUCCEEDED)
    event = await gateway.parse_notice({SIGNATURE_HEADER: headers[SIGNATURE_HEADER]}, body)

    # The notice is applied by another worker, which dies before anyone is told.
    async with shop.another_worker() as other:
        await other.payment_intake.receive(event)
    await shop.run_housekeeping()  # its rows are still that worker's
    assert shop.times_told(alice, "Payment received") == 0

    await shop.lease_runs_out()
    await shop.run_housekeeping()
    receipt = await shop.told(alice, "Payment received")
    assert "$9.00" in receipt["text"]
    await shop.told(shop.admin, "Alice paid $9.00")

    await shop.lease_runs_out()
    await shop.run_housekeeping()  # told once: its rows are done
    await emu.send_text(alice, "/help")
    await emu.wait_for(lambda: "/my" in emu.bot_messages(alice)[-1].get("text", ""))
    assert shop.times_told(alice, "Payment received") == 1


async def sandbox_events(shop: RunningShop, token: str, payer: User) -> dict[ChargeOutcome, PaymentEvent]:
    """The sandbox's verified notices of the payer's decisions (pay, decline) on a new checkout of this order."""
    checkout = await shop.daifu.checkouts.start(token, "sandbox", payer_id=payer.id)
    gateway = shop.daifu.providers["sandbox"]
    assert isinstance(gateway, SandboxGateway) and checkout.url is not None
    session = gateway.open_session(checkout.url.rsplit("/", 1)[1])
    assert session is not None
    events = {}
    for outcome in (ChargeOutcome.SUCCEEDED, ChargeOutcome.DECLINED):
        headers, body = gateway.signed_notice(session, outcome)
        events[outcome] = await gateway.parse_notice({SIGNATURE_HEADER: headers[SIGNATURE_HEADER]}, body)
    return events


async def charge_of(shop: RunningShop, token: str) -> int:
    async with shop.daifu.db.transaction() as db_session:
        charge_id = (
            await db_session.exec(
                select(Payment.id)
                .join(Order, col(Order.id) == col(Payment.order_id))
                .where(Order.token == token, col(Payment.credited).is_(True))
            )
        ).one()
    assert charge_id is not None
    return charge_id


async def settled(shop: RunningShop, person: User) -> None:
    """Everything the bot was doing for this person is done (its answer to /help comes after it)."""
    sent = await shop.emu.send_text(person, "/help")
    await shop.told(person, "/my", after=sent["message_id"])


async def test_a_refund_never_told_is_told_by_the_housekeeping_job_once(shop: RunningShop) -> None:
    alice, admin = shop.alice, shop.admin
    token = await shop.new_link("/newlink 9 USD Candles")
    await pay_on_sandbox(shop, alice, token)
    question = await say(shop, admin, f"/refund {token} 4")
    await shop.emu.click(admin, question, "Yes, refund")
    await shop.told(alice, "Your payment of $4.00 has been refunded")  # told at once, and remembered as told
    await shop.all_told()  # the teller done with it (marked told), as long before any lease of a live worker ends

    # The rest is refunded by another worker, which dies before anyone is told.
    charge = await charge_of(shop, token)
    async with shop.another_worker() as other:
        await other.refunds.refund(charge, reason=ReturnReason.SHOP_REFUND, actor_id=admin.id)
    assert shop.times_told(alice, "Your payment of $5.00 has been refunded") == 0

    await shop.lease_runs_out()
    await shop.run_housekeeping()
    told = await shop.told(alice, "Your payment of $5.00 has been refunded")
    assert "The shop refunded your payment." in told["text"] and "Candles" in told["text"]
    await shop.told(admin, "↩️ Refunded $5.00 for order #")

    await shop.lease_runs_out()
    await shop.run_housekeeping()
    await settled(shop, alice)
    await settled(shop, admin)
    assert shop.times_told(alice, "Your payment of $5.00 has been refunded") == 1
    assert shop.times_told(alice, "Your payment of $4.00 has been refunded") == 1
    assert shop.times_told(admin, "↩️ Refunded $5.00 for order #") == 1
    assert shop.times_told(admin, "↩️ Refunded $4.00 for order #") == 1


async def test_a_late_second_payment_given_back_unannounced_is_announced_once(shop: RunningShop) -> None:
    alice, bob, admin = shop.alice, shop.bob, shop.admin
    await settled(shop, alice)
    await settled(shop, bob)
    token = await shop.new_link("/newlink 9 USD Candles")
    alices = (await sandbox_events(shop, token, alice))[ChargeOutcome.SUCCEEDED]
    bobs = (await sandbox_events(shop, token, bob))[ChargeOutcome.SUCCEEDED]
    async with shop.another_worker() as other:
        await other.payment_intake.receive(alices)
        # Bob's money arrives after Alice's: it goes back to him at once, then the worker dies before telling him.
        await other.payment_intake.receive(bobs)
    async with shop.daifu.db.transaction() as db_session:
        assert [refund.status for refund in (await db_session.exec(select(Refund))).all()] == ["done"]  # not owed
    await shop.lease_runs_out()

    await shop.run_housekeeping()
    told = await shop.told(bob, "Your payment of $9.00 has been refunded")
    assert "The order had already been paid by someone else." in told["text"]
    await shop.told(admin, "↩️ Refunded $9.00 for order #")
    await shop.told(alice, "Payment received")  # her receipt was owed too

    await shop.lease_runs_out()
    await shop.run_housekeeping()
    await settled(shop, bob)
    await settled(shop, alice)
    assert shop.times_told(bob, "has been refunded") == 1 and shop.times_told(bob, "Payment received") == 0
    assert shop.times_told(alice, "Payment received") == 1
    assert shop.times_told(admin, "↩️ Refunded $9.00 for order #") == 1


async def test_a_decline_never_told_is_told_once_and_a_payment_after_it_gets_its_receipt(shop: RunningShop) -> None:
    alice = shop.alice
    await settled(shop, alice)
    token = await shop.new_link("/newlink 9 USD Candles")
    events = await sandbox_events(shop, token, alice)
    # Applied; the worker died before telling Alice.
    async with shop.another_worker() as other:
        await other.payment_intake.receive(events[ChargeOutcome.DECLINED])
    await shop.lease_runs_out()

    await shop.run_housekeeping()
    told = await shop.told(alice, "was declined")
    assert "Candles" in told["text"] and "You were not charged" in told["text"]

    # She pays on the same checkout after all; that worker dies too before the receipt.
    async with shop.another_worker() as other:
        await other.payment_intake.receive(events[ChargeOutcome.SUCCEEDED])
    await shop.lease_runs_out()
    await shop.run_housekeeping()
    await shop.told(alice, "Payment received")

    await shop.lease_runs_out()
    await shop.run_housekeeping()
    await settled(shop, alice)
    assert shop.times_told(alice, "was declined") == 1 and shop.times_told(alice, "Payment received") == 1


async def test_a_shopper_who_paid_twice_is_told_it_was_their_own_second_payment(shop: RunningShop) -> None:
    alice = shop.alice
    await settled(shop, alice)
    token = await shop.new_link("/newlink 9 USD Candles")
    first = (await sandbox_events(shop, token, alice))[ChargeOutcome.SUCCEEDED]
    # Her first checkout was about to end, so tapping Pay again opened a new one (a checkout with time left is
    # shown again instead); she paid in both tabs, the first at its last moment.
    async with shop.daifu.db.transaction() as db_session:
        await db_session.exec(update(Payment).values(checkout_expires_at=col(Payment.created_at)))
    second = (await sandbox_events(shop, token, alice))[ChargeOutcome.SUCCEEDED]
    async with shop.another_worker() as other:
        await other.payment_intake.receive(first)
        await other.payment_intake.receive(second)
    await shop.lease_runs_out()

    await shop.run_housekeeping()
    told = await shop.told(alice, "Your payment of $9.00 has been refunded")
    assert "You had already paid for this order" in told["text"]
    assert "someone else" not in told["text"]
