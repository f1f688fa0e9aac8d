"""Create a link, open it, pay on the sandbox page: paid once, receipt to the payer, note to the shop."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import quote

from sqlmodel import select

from payments.base import ChargeOutcome
from payments.sandbox import SandboxGateway
from services.links import deep_link, qr_png
from storage.models import Order, OrderStatus, Payment
from tests.flows.test_request_web_page import WebFriend
from tests.harness import BOT_USERNAME, RunningShop


async def test_newlink_replies_with_link_page_and_qr_code(shop: RunningShop) -> None:
    emu = shop.emu
    await emu.send_text(shop.admin, "/newlink 12.50 USD Coffee beans")
    reply = await emu.next_bot_message(shop.admin)

    token = re.search(r"\?start=([A-Za-z0-9_-]+)", reply["caption"]).group(1)  # type: ignore[union-attr]
    assert len(token) >= 22  # 128 random bits
    assert "Coffee beans" in reply["caption"] and "$12.50" in reply["caption"]
    assert f"{shop.web_url}/o/{token}" in reply["caption"]
    photo = emu.file_bytes(reply["photo"][-1]["file_id"])
    assert photo == qr_png(deep_link(BOT_USERNAME, token))  # the QR code encodes the deep link


async def open_order(shop: RunningShop, token: str) -> dict:
    await shop.emu.open_link(shop.alice, f"https://t.me/{BOT_USERNAME}?start={token}")
    return await shop.emu.next_bot_message(shop.alice)


async def test_shopper_pays_on_the_sandbox_page(shop: RunningShop) -> None:
    emu = shop.emu
    token = await shop.new_link("/newlink 12.50 USD Coffee beans")

    card = await open_order(shop, token)
    assert "Coffee beans" in card["text"] and "Bean There" in card["text"] and "$12.50" in card["text"]
    labels = [[button["text"] for button in row] for row in card["reply_markup"]["inline_keyboard"]]
    assert labels == [
        ["Pay on the sandbox page ($12.50)"],
        ["Pay by card ($12.50)"],
        ["Pay with Stars (625 ⭐)"],
        ["Ask a friend to pay", "Split with friends"],
    ]

    await emu.click(shop.alice, card, "sandbox")
    checkout_message = await emu.next_bot_message(shop.alice)
    page_url = await emu.click(shop.alice, checkout_message, "Open checkout page")
    status, page = await shop.get(page_url)
    assert status == 200 and "Coffee beans" in page and "$12.50" in page

    status, result = await shop.post(page_url, data={"decision": "pay"})  # back to the receipt
    assert status == 200 and "Payment accepted" in result and "The shop has been told" in result
    assert "Coffee beans" in result and 'data-testid="paid-amount">$12.50<' in result and "sbx_ch_" in result

    receipt = await shop.told(shop.alice, "Payment received")
    assert "Payment received" in receipt["text"] and "$12.50" in receipt["text"]
    assert "Order: #" in receipt["text"] and " ago" in receipt["text"]  # the order's number; paid just now
    note = await shop.told(shop.admin, "Alice paid $12.50")
    assert "Coffee beans" in note["text"]

    # Pressing Pay again on the same page charges nothing more, and nobody is told twice.
    status, again = await shop.post(page_url, data={"decision": "pay"})
    assert status == 409 and "already been paid" in again
    status, landing = await shop.get(f"/o/{token}")
    assert "This order has been paid" in landing and 'data-testid="qr"' not in landing
    card_again = await open_order(shop, token)
    assert "already been paid" in card_again["text"]
    async with shop.daifu.db.transaction() as session:
        order = (await session.exec(select(Order).where(Order.token == token))).one()
        charges = (await session.exec(select(Payment).where(Payment.provider_ref.is_not(None)))).all()  # type: ignore[union-attr]
    assert order.status == OrderStatus.PAID and order.payer_id == shop.alice.id
    assert len(charges) == 1
    assert shop.times_told(shop.alice, "Payment received") == 1


async def test_a_replayed_or_forged_sandbox_notice_changes_nothing(shop: RunningShop) -> None:
    emu = shop.emu
    token = await shop.new_link("/newlink 3 EUR Croissant")
    card = await open_order(shop, token)
    await emu.click(shop.alice, card, "sandbox")
    page_url = await emu.click(shop.alice, await emu.next_bot_message(shop.alice), "Open checkout page")
    gateway = shop.daifu.providers["sandbox"]
    assert isinstance(gateway, SandboxGateway)
    session = gateway.open_session(page_url.rsplit("/", 1)[1])
    assert session is not None
    headers, body = gateway.signed_notice(session, ChargeOutcome.SUCCEEDED)

    forger = SandboxGateway("a forger's guess at the secret", gateway.public_base_url)
    forged, _ = forger.signed_notice(session, ChargeOutcome.SUCCEEDED)
    status, _ = await shop.post(gateway.notify_url, data=body, headers=forged)
    assert status == 400
    assert (await shop.daifu.orders.payable(token)).status == OrderStatus.PENDING

    for _attempt in range(3):
        status, _ = await shop.post(gateway.notify_url, data=body, headers=headers)
        assert status == 200
    await shop.told(shop.alice, "Payment received")
    await shop.told(shop.admin, "Alice paid")
    assert shop.times_told(shop.alice, "Payment received") == 1 and shop.times_told(shop.admin, "Alice paid") == 1


async def test_declining_on_the_page_tells_the_shopper_and_keeps_the_order_open(shop: RunningShop) -> None:
    emu = shop.emu
    token = await shop.new_link("/newlink 3 EUR Croissant")
    card = await open_order(shop, token)
    await emu.click(shop.alice, card, "sandbox")
    page_url = await emu.click(shop.alice, await emu.next_bot_message(shop.alice), "Open checkout page")

    status, page = await shop.post(page_url, data={"decision": "decline"})

    assert status == 200 and "Not paid" in page and "You were not charged" in page  # the receipt says so
    assert f"/o/{token}" in page  # and leads back to the order, to pay another way
    told = await shop.told(shop.alice, "declined")
    assert "not charged" in told["text"]
    assert (await shop.daifu.orders.payable(token)).status == OrderStatus.PENDING


async def test_landing_page_shows_the_order_and_its_qr_code(shop: RunningShop) -> None:
    token = await shop.new_link("/newlink 12.50 USD Coffee beans")
    status, page = await shop.get(f"/o/{token}")
    assert status == 200
    assert "Coffee beans" in page and "$12.50" in page and "Bean There" in page
    assert f"https://t.me/{BOT_USERNAME}?start={token}" in page
    assert f"/o/{token}/qr.png" in page

    status, kind, png = await shop.get_bytes(f"/o/{token}/qr.png")
    assert status == 200 and kind == "image/png" and png == qr_png(deep_link(BOT_USERNAME, token))
    status, kind, svg = await shop.get_bytes(f"/o/{token}/qr.svg")
    assert status == 200 and kind == "image/svg+xml" and svg.startswith(b"<svg")

    status, page = await shop.get(f"/o/{token}", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "在 Telegram 中打开" in page and "US$12.50" in page
    status, _ = await shop.get("/o/not-a-real-token")
    assert status == 404


async def test_a_shopper_pays_the_order_on_its_web_page(shop: RunningShop, friends: Callable[[], WebFriend]) -> None:
    """Without Telegram: the order's page offers the web methods and ways to send it to a friend; paying leads to
    a receipt at an address of the payer's own."""
    token = await shop.new_link("/newlink 12.50 USD Coffee beans")
    shopper = friends()
    status, page = await shopper.get(f"/o/{token}")
    assert status == 200 and 'data-testid="pay-sandbox"' in page
    assert 'value="telegram"' not in page and 'value="stars"' not in page  # paid inside the Telegram app
    # The camera is spoken of only where the code is shown: wide screens (the stylesheet hides it on a phone).
    assert re.search(r'<div class="on-desktop" data-testid="telegram-qr">\s*<p>Or scan the code with your phone', page)
    assert page.count("phone&#39;s camera") == 1  # escaped as the page writes it
    page_url = quote(f"{shop.web_url}/o/{token}", safe="")
    assert "https://wa.me/?text=Could+you+pay+%2412.50+for+Coffee+beans" in page and page_url in page
    assert 'data-testid="ask-in-telegram"' in page and "Pay by: in 3 days" in page and "UTC" not in page

    form = {"form_token": shopper.form_token(), "method": "sandbox"}
    status, _page, checkout_url = await shopper.post(f"/o/{token}", form)
    assert status == 303 and checkout_url and "/sandbox/checkout/" in checkout_url
    status, _page, again = await shopper.post(f"/o/{token}", form)
    assert again == checkout_url  # pressing Pay twice opens one checkout
    status, page, _location = await shopper.post(f"/o/{token}", {**form, "method": "telegram"})
    assert status == 422 and "not available for this order" in page
    status, page, _location = await friends().post(f"/o/{token}", form)  # another browser's form token
    assert status == 403 and "out of date" in page

    receipt = await shopper.pay_on_sandbox(checkout_url)
    assert "The shop has been told" in receipt and 'data-testid="paid-for"' not in receipt
    assert re.search(r'data-testid="order">order #\d+ · Coffee beans<', receipt) and f"/o/{token}" in receipt
    await shop.told(shop.admin, "💰 someone on the web page paid $12.50")
    async with shop.daifu.db.transaction() as session:
        order = (await session.exec(select(Order).where(Order.token == token))).one()
    assert order.status == OrderStatus.PAID and order.payer_id is None

    status, page = await shopper.get(f"/o/{token}")
    assert "This order has been paid" in page and 'data-testid="pay-form"' not in page
    status, page, _location = await shopper.post(f"/o/{token}", form)  # an old tab's form
    assert status == 409 and "already been paid" in page
