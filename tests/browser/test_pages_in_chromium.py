"""The order page and the sandbox checkout, as a person sees and uses them in a real browser."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser

from storage.models import OrderStatus
from tests.harness import BOT_USERNAME, RunningShop

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}


async def test_order_page_shows_amount_qr_code_and_telegram_link(
    shop: RunningShop, browser: Browser, screenshots: Path
) -> None:
    token = await shop.new_link("/newlink 12.50 USD Coffee beans")
    for name, viewport, locale, amount, button in [
        ("phone-en", PHONE, "en-US", "$12.50", "Open in Telegram"),
        ("laptop-zh", LAPTOP, "zh-CN", "US$12.50", "在 Telegram 中打开"),
    ]:
        context = await browser.new_context(viewport=viewport, locale=locale)  # type: ignore[arg-type]
        page = await context.new_page()
        await page.goto(f"{shop.web_url}/o/{token}")

        assert await page.inner_text("[data-testid=amount]") == amount
        assert await page.locator("[data-testid=pay-sandbox]").is_visible()  # paid here, on any screen
        qr = page.locator("[data-testid=qr]")
        # The code to open it in Telegram on a phone, and the words about a phone's camera, only on a computer.
        camera = page.locator("[data-testid=telegram-qr] p").first
        assert await qr.is_visible() == await camera.is_visible() == (name != "phone-en")
        if name != "phone-en":
            assert await qr.evaluate("img => img.complete && img.naturalWidth > 100")  # the PNG really loaded
            box = await qr.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]
        link = page.locator("[data-testid=open-in-telegram]")
        assert (await link.inner_text()).strip() == button
        assert await link.get_attribute("href") == f"https://t.me/{BOT_USERNAME}?start={token}"
        # Nothing sticks out sideways on a narrow screen.
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        await page.screenshot(path=str(screenshots / f"order-page-{name}.png"), full_page=True)
        await context.close()


async def test_paying_on_the_sandbox_page_in_a_browser(shop: RunningShop, browser: Browser, screenshots: Path) -> None:
    emu = shop.emu
    token = await shop.new_link("/newlink 3 EUR Croissant")
    await emu.open_link(shop.alice, f"https://t.me/{BOT_USERNAME}?start={token}")
    await emu.click(shop.alice, await emu.next_bot_message(shop.alice), "sandbox")
    checkout_url = await emu.click(shop.alice, await emu.next_bot_message(shop.alice), "Open checkout page")

    context = await browser.new_context(viewport=PHONE)  # type: ignore[arg-type]
    page = await context.new_page()
    await page.goto(checkout_url)
    assert await page.inner_text("[data-testid=amount]") == "€3.00"
    await page.screenshot(path=str(screenshots / "sandbox-checkout.png"), full_page=True)
    await page.click("[data-testid=pay]")

    assert await page.inner_text("[data-testid=heading]") == "Payment accepted"
    await page.screenshot(path=str(screenshots / "sandbox-accepted.png"), full_page=True)
    await shop.told(shop.alice, "Payment received")
    await page.go_back()
    await page.reload()
    assert "already been paid" in await page.inner_text("[data-testid=message]")
    await context.close()
    order = await shop.daifu.orders.by_token(token)
    assert order is not None and order.status == OrderStatus.PAID
