"""A charge applied by a worker that died before telling anyone is told later: every receipt owed is sent."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, update

from payments.base import ChargeOutcome
from payments.sandbox import SIGNATURE_HEADER, SandboxGateway
from storage.models import Payment, utcnow
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

    # The notice is applied, then the worker dies before anyone is told.
    await shop.daifu.settlements.receive(event)
    async with shop.daifu.db.transaction() as db_session:
        await db_session.exec(
            update(Payment).where(col(Payment.credited).is_(True)).values(settled_at=utcnow() - timedelta(minutes=2))
        )
    assert shop.times_told(alice, "Payment received") == 0

    await shop.run_housekeeping()
    receipt = await shop.told(alice, "Payment received")
    assert "$9.00" in receipt["text"]
    await shop.told(shop.admin, "Alice paid $9.00")

    await shop.run_housekeeping()  # told once: the charge is marked as told
    await emu.send_text(alice, "/help")
    await emu.wait_for(lambda: "/my" in emu.bot_messages(alice)[-1].get("text", ""))
    assert shop.times_told(alice, "Payment received") == 1
