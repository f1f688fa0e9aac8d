"""Telegram's own invoices: card payments (provider token) and Stars, pre-checkout checks, refunds."""

from __future__ import annotations

import pytest

from emulator.errors import PaymentRefused
from storage.models import OrderStatus
from tests.harness import BOT_USERNAME, RunningShop


async def invoice_for(shop: RunningShop, token: str, method: str) -> dict:
    emu = shop.emu
    await emu.open_link(shop.alice, f"https://t.me/{BOT_USERNAME}?start={token}")
    card = await emu.next_bot_message(shop.alice)
    await emu.click(shop.alice, card, method)
    invoice = await emu.next_bot_message(shop.alice)
    assert "invoice" in invoice, invoice
    return invoice


async def test_card_invoice_is_paid_once_even_if_telegram_repeats_the_payment(shop: RunningShop) -> None:
    emu = shop.emu
    token = await shop.new_link("/newlink 12.50 USD Coffee beans")
    invoice = await invoice_for(shop, token, "Pay by card")
    assert invoice["invoice"]["currency"] == "USD" and invoice["invoice"]["total_amount"] == 1250

    paid = await emu.pay_invoice(shop.alice, invoice)
    receipt = await shop.told(shop.alice, "Payment received")
    assert "$12.50" in receipt["text"]
    note = await shop.told(shop.admin, "Alice paid $12.50")
    # Card payments cannot be refunded by the bot, so the admin gets no Refund button for them.
    assert note.get("reply_markup") is None

    await emu.repeat_payment(paid)
    await emu.send_text(shop.alice, "/help")  # the bot handles updates in order: once /help is answered,
    await emu.next_bot_message(shop.alice)  # the repeated payment has been handled too
    assert shop.times_told(shop.alice, "Payment received") == 1
    order = await shop.daifu.orders.by_token(token)
    assert order is not None and order.status == OrderStatus.PAID


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ({"total_amount": 1}, "no longer matches"),
        ({"currency": "EUR"}, "no longer matches"),
        ({"payload": "made-up-payload"}, "does not belong to any order"),
    ],
)
async def test_pre_checkout_refuses_a_tampered_invoice(shop: RunningShop, tamper: dict, reason: str) -> None:
    token = await shop.new_link("/newlink 12.50 USD Coffee beans")
    invoice = await invoice_for(shop, token, "Pay by card")

    answer = await shop.emu.pre_checkout(shop.alice, invoice, **tamper)

    assert answer["ok"] is False and reason in answer["error_message"]
    order = await shop.daifu.orders.by_token(token)
    assert order is not None and order.status == OrderStatus.PENDING


async def test_an_old_invoice_cannot_pay_an_order_that_is_already_paid(shop: RunningShop) -> None:
    emu = shop.emu
    token = await shop.new_link("/newlink 12.50 USD Coffee beans")
    first = await invoice_for(shop, token, "Pay by card")
    second = await invoice_for(shop, token, "Pay by card")
    await emu.pay_invoice(shop.alice, first)
    await shop.told(shop.alice, "Payment received")

    with pytest.raises(PaymentRefused, match="already paid"):
        await emu.pay_invoice(shop.alice, second)


async def test_stars_order_is_paid_and_refunded_by_the_admin(shop: RunningShop) -> None:
    emu = shop.emu
    token = await shop.new_link("/newlink 50 XTR Sticker pack")
    await emu.open_link(shop.alice, f"https://t.me/{BOT_USERNAME}?start={token}")
    card = await emu.next_bot_message(shop.alice)
    # Digital goods priced in Stars are sold in Stars only.
    assert [row[0]["text"] for row in card["reply_markup"]["inline_keyboard"]] == [
        "Pay with Stars (50 ⭐)",
        "Ask a friend to pay",
    ]
    await emu.click(shop.alice, card, "Stars")
    invoice = await emu.next_bot_message(shop.alice)
    assert invoice["invoice"]["currency"] == "XTR" and invoice["invoice"]["total_amount"] == 50

    paid = await emu.pay_invoice(shop.alice, invoice)
    await shop.told(shop.alice, "Payment received")
    note = await shop.told(shop.admin, "Alice paid 50 ⭐")
    await emu.click(shop.admin, note, "Refund")
    await emu.wait_for(lambda: "Yes, refund" in str(emu.chat_messages(shop.admin)[-1].get("reply_markup")))
    await emu.click(shop.admin, note, "Yes, refund")

    await emu.wait_for(lambda: emu.star_refunds)
    charge_id = paid["successful_payment"]["telegram_payment_charge_id"]
    assert [r["telegram_payment_charge_id"] for r in emu.star_refunds] == [charge_id]
    told = await shop.told(shop.alice, "has been refunded")
    assert "50 ⭐" in told["text"]
    order = await shop.daifu.orders.by_token(token)
    assert order is not None and order.status == OrderStatus.REFUNDED
    await emu.wait_for(lambda: "reply_markup" not in emu.chat_messages(shop.admin)[-1])  # no second refund


async def test_stars_are_offered_for_other_currencies_only_at_a_configured_rate(shop: RunningShop) -> None:
    emu = shop.emu
    token = await shop.new_link("/newlink 2 USD Postcard")
    invoice = await invoice_for(shop, token, "Stars")
    assert invoice["invoice"] == {**invoice["invoice"], "currency": "XTR", "total_amount": 100}
    await emu.pay_invoice(shop.alice, invoice)
    receipt = await shop.told(shop.alice, "Payment received")
    assert "100 ⭐" in receipt["text"]

    eur = await shop.new_link("/newlink 2 EUR Postcard")  # no EUR rate is configured
    await emu.open_link(shop.alice, f"https://t.me/{BOT_USERNAME}?start={eur}")
    card = await emu.next_bot_message(shop.alice)
    assert not any("Stars" in row[0]["text"] for row in card["reply_markup"]["inline_keyboard"])
