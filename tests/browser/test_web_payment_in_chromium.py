"""A shopper without Telegram pays an order on its web page, on a phone and on a computer, and keeps the receipt."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, Page

from storage.models import OrderStatus
from tests.flows.test_request_web_page import QrGateway
from tests.harness import RunningShop

PHONE = {"width": 360, "height": 740}
LAPTOP = {"width": 1280, "height": 800}


async def fits_sideways(page: Page) -> bool:
    return bool(await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


async def test_a_shopper_pays_on_the_order_page_and_keeps_the_receipt(
    shop: RunningShop, browser: Browser, screenshots: Path
) -> None:
    shop.daifu.providers["qrpay"] = QrGateway()  # type: ignore[index]  # a method paid by scanning a code
    token = await shop.new_link("/newlink 12.50 USD Coffee beans")
    context = await browser.new_context(viewport=PHONE, locale="en-US")  # type: ignore[arg-type]
    page = await context.new_page()

    # On a phone: buttons, never a code to scan with the phone's own camera.
    await page.goto(f"{shop.web_url}/o/{token}")
    assert await page.locator("[data-testid=pay-sandbox]").is_visible()
    assert await page.locator("[data-testid=ask-whatsapp]").is_visible()
    assert not await page.locator("[data-testid=telegram-qr]").is_visible()
    assert not await page.get_by_text("camera").is_visible()
    assert await fits_sideways(page)
    await page.screenshot(path=str(screenshots / "order-pay-phone.png"), full_page=True)

    # A code to scan with a payment app: on the phone the page says how to use it there; "I have paid" leads to
    # the receipt, which waits for the provider.
    await page.click("[data-testid=pay-qrpay]")
    assert await page.locator("[data-testid=qr]").is_visible()
    assert not await page.locator("[data-testid=scan]").is_visible()
    assert await page.get_by_text("Save this code as a picture").is_visible()
    await page.set_viewport_size(LAPTOP)  # type: ignore[arg-type]
    assert await page.locator("[data-testid=scan]").is_visible()
    await page.screenshot(path=str(screenshots / "qr-checkout-laptop.png"), full_page=True)
    await page.click("[data-testid=receipt-link]")
    assert await page.inner_text("[data-testid=heading]") == "Waiting for the payment"

    # On a computer the order page also shows the code that opens it in Telegram on a phone.
    await page.goto(f"{shop.web_url}/o/{token}")
    assert await page.locator("[data-testid=telegram-qr]").is_visible()
    await page.screenshot(path=str(screenshots / "order-pay-laptop.png"), full_page=True)
    await page.click("[data-testid=pay-sandbox]")
    await page.wait_for_url("**/sandbox/checkout/**")
    await page.click("[data-testid=pay]")
    await page.wait_for_url("**/receipt/**")
    assert await page.inner_text("[data-testid=heading]") == "Payment accepted"
    assert (await page.inner_text("[data-testid=paid-amount]")) == "$12.50"
    assert (await page.inner_text("[data-testid=reference]")).startswith("sbx_ch_")
    receipt = page.url
    await page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    assert await fits_sideways(page)
    await page.screenshot(path=str(screenshots / "receipt-phone.png"), full_page=True)
    await context.close()

    # The address is kept: another browser opening it later sees the same receipt.
    later = await (await browser.new_context(viewport=LAPTOP)).new_page()  # type: ignore[arg-type]
    await later.goto(receipt)
    assert await later.inner_text("[data-testid=heading]") == "Payment accepted"
    await later.context.close()
    order = await shop.daifu.orders.by_token(token)
    assert order is not None and order.status == OrderStatus.PAID
