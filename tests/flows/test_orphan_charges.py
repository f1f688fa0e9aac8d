"""Money that arrives for an invoice daifu does not know is never only logged.

Telegram delivers a successful_payment for any invoice the bot ever sent: one from before the database was
restored, say. The charge is kept once (however often Telegram delivers it), the admins are told with its
charge ids, the amount and the payer, Stars go back at once with refundStarPayment, and a card payment (which
the bot cannot refund) is recorded as owed. /order shows a payment's charge ids, to find it at the provider.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select, update

from emulator.state import Invoice
from storage.models import OrphanCharge, utcnow
from tests.harness import BOT_USERNAME, RunningShop


def old_invoice(currency: str, amount: int) -> Invoice:
    """An invoice the bot sent long ago, for a checkout its database no longer has."""
    return Invoice(
        title="Sticker pack",
        description="Sticker pack",
        payload="chk_from_before_the_restore",
        currency=currency,
        prices=[{"label": "Sticker pack", "amount": amount}],
        provider_token="" if currency == "XTR" else "284685063:TEST:daifu",
    )


async def orphans(shop: RunningShop) -> list[OrphanCharge]:
    async with shop.daifu.db.transaction() as session:
        return list((await session.exec(select(OrphanCharge).order_by(col(OrphanCharge.id)))).all())


async def handled(shop: RunningShop) -> None:
    """Everything sent before has been handled (the bot handles updates in order)."""
    sent = await shop.emu.send_text(shop.alice, "/help")
    await shop.told(shop.alice, "/my", after=sent["message_id"])


async def test_stars_for_an_unknown_invoice_are_kept_once_told_and_given_back(shop: RunningShop) -> None:
    emu = shop.emu
    await shop.emu.send_text(shop.admin, "/help")  # the admin's chat with the bot is open
    await emu.next_bot_message(shop.admin)
    await handled(shop)
    paid = await emu.pay_invoice(shop.alice, old_invoice("XTR", 50), already_approved=True)
    charge_id = paid["successful_payment"]["telegram_payment_charge_id"]

    told = await shop.told(shop.admin, "for a checkout the bot does not know")
    assert "50 ⭐ arrived via stars" in told["text"] and charge_id in told["text"]
    assert "chk_from_before_the_restore" in told["text"] and "Alice" in told["text"]
    assert "given back to the payer automatically" in told["text"]
    await emu.wait_for(lambda: emu.star_refunds)

    await emu.repeat_payment(paid)  # Telegram delivers the same payment again
    await handled(shop)
    assert [r["telegram_payment_charge_id"] for r in emu.star_refunds] == [charge_id]  # refunded once
    assert shop.times_told(shop.admin, "for a checkout the bot does not know") == 1
    [orphan] = await orphans(shop)
    assert (orphan.provider, orphan.charge_ref, orphan.amount_minor, orphan.currency) == ("stars", charge_id, 50, "XTR")
    assert orphan.status == "refunded" and orphan.payer_id == shop.alice.id
    assert orphan.payload == "chk_from_before_the_restore"

    sent = await emu.send_text(shop.admin, f"/order {charge_id}")  # the admin looks it up again later
    again = await shop.told(shop.admin, "for a checkout the bot does not know", after=sent["message_id"])
    assert charge_id in again["text"] and "given back to the payer automatically" in again["text"]


async def test_a_card_payment_for_an_unknown_invoice_is_recorded_as_owed(shop: RunningShop) -> None:
    emu = shop.emu
    await shop.emu.send_text(shop.admin, "/help")
    await emu.next_bot_message(shop.admin)
    paid = await emu.pay_invoice(shop.alice, old_invoice("USD", 1250), already_approved=True)
    ids = paid["successful_payment"]

    told = await shop.told(shop.admin, "for a checkout the bot does not know")
    assert "$12.50 arrived via telegram" in told["text"]
    assert ids["telegram_payment_charge_id"] in told["text"] and ids["provider_payment_charge_id"] in told["text"]
    assert "refund it at the payment provider" in told["text"]
    [orphan] = await orphans(shop)
    assert orphan.status == "owed" and orphan.provider_charge_ref == ids["provider_payment_charge_id"]
    assert emu.star_refunds == []
    assert shop.times_told(shop.alice, "has been refunded") == 0


async def test_order_shows_the_charge_ids_to_find_a_payment_at_its_provider(shop: RunningShop) -> None:
    emu = shop.emu
    token = await shop.new_link("/newlink 12.50 USD Coffee beans")
    await emu.open_link(shop.alice, f"https://t.me/{BOT_USERNAME}?start={token}")
    card = await emu.next_bot_message(shop.alice)
    await emu.click(shop.alice, card, "Pay by card")
    paid = await emu.pay_invoice(shop.alice, await emu.next_bot_message(shop.alice))
    await shop.told(shop.alice, "Payment received")
    ids = paid["successful_payment"]

    sent = await emu.send_text(shop.admin, f"/order {token}")
    dossier = await shop.told(shop.admin, "Payments", after=sent["message_id"])
    assert f"Telegram charge id: {ids['telegram_payment_charge_id']}" in dossier["text"]
    assert f"Provider charge id: {ids['provider_payment_charge_id']}" in dossier["text"]


async def test_stars_whose_worker_died_while_giving_them_back_are_given_back_once(shop: RunningShop) -> None:
    emu = shop.emu
    await shop.emu.send_text(shop.admin, "/help")
    await emu.next_bot_message(shop.admin)
    paid = await emu.pay_invoice(shop.alice, old_invoice("XTR", 50), already_approved=True)
    charge_id = paid["successful_payment"]["telegram_payment_charge_id"]
    await shop.told(shop.admin, "given back to the payer automatically")
    # The worker died after refundStarPayment and before it wrote that down; a few minutes pass.
    async with shop.daifu.db.transaction() as session:
        await session.exec(update(OrphanCharge).values(status="refunding", created_at=utcnow() - timedelta(minutes=3)))

    await shop.run_housekeeping()
    [orphan] = await orphans(shop)
    assert orphan.status == "refunded"  # Telegram says those Stars went back already: that is the outcome wanted
    assert [r["telegram_payment_charge_id"] for r in emu.star_refunds] == [charge_id]
    await shop.run_housekeeping()
    assert shop.times_told(shop.admin, "given back to the payer automatically") == 2  # told again: at least once
