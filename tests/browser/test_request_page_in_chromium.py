"""A friend without Telegram pays a pay-for-me request in a real browser, on a phone and on a laptop."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, Page

from storage.models import OrderStatus, PayRequest, RequestMode, RequestStatus
from tests.harness import RunningShop

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}


async def ask(
    shop: RunningShop, command: str, mode: RequestMode, *, note: str = "", shares: int | None = None
) -> PayRequest:
    await shop.emu.send_text(shop.alice, "/help")  # Alice must be known to the bot to ask
    await shop.emu.next_bot_message(shop.alice)
    order_token = await shop.new_link(command)
    return (await shop.daifu.asking.ask(order_token, shop.alice.id, mode=mode, note=note, shares=shares)).request


async def fits_sideways(page: Page) -> bool:
    return bool(await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


async def test_a_friend_pays_a_request_from_a_phone(shop: RunningShop, browser: Browser, screenshots: Path) -> None:
    request = await ask(shop, "/newlink 12.50 USD Coffee beans", RequestMode.SINGLE, note="happy birthday to me")
    context = await browser.new_context(viewport=PHONE, locale="en-US")  # type: ignore[arg-type]
    page = await context.new_page()
    await page.goto(f"{shop.web_url}/r/{request.token}")

    assert await page.inner_text("[data-testid=ask]") == "Alice asks you to pay $12.50 for Coffee beans at Bean There"
    assert await page.inner_text("[data-testid=note]") == "happy birthday to me"
    assert await page.inner_text("[data-testid=status]") == "open"
    button = page.locator("[data-testid=pay-sandbox]")
    assert await button.is_visible() and (await button.inner_text()).strip() == "Pay on the sandbox page"
    assert await page.locator("button[name=method]").count() == 1  # no Telegram-only methods
    assert await fits_sideways(page)
    await page.screenshot(path=str(screenshots / "request-phone.png"), full_page=True)

    await button.click()  # the browser itself refuses an empty name
    assert page.url.endswith(f"/r/{request.token}")
    assert await page.locator("[data-testid=name]").evaluate("input => input.validity.valueMissing")

    await page.fill("[data-testid=name]", "Wei")
    await button.click()
    await page.wait_for_url("**/sandbox/checkout/**")
    assert await page.inner_text("[data-testid=amount]") == "$12.50"
    await page.click("[data-testid=pay]")
    assert await page.inner_text("[data-testid=heading]") == "Payment accepted"

    told = await shop.told(shop.alice, "paid for you")
    assert "Wei" in told["text"]
    await page.click("text=See the request")  # from the receipt back to the request's page, which thanks Wei
    assert await page.inner_text("[data-testid=status]") == "paid"
    assert await page.locator("[data-testid=thanks]").is_visible()
    assert await page.locator("[data-testid=pay-form]").count() == 0
    assert await fits_sideways(page)
    await page.screenshot(path=str(screenshots / "request-phone-paid.png"), full_page=True)
    await context.close()

    order = await shop.daifu.orders.by_token((await shop.daifu.request_views.view(request.token)).order.token)
    assert order is not None and order.status == OrderStatus.PAID


async def test_a_second_friend_sees_who_is_paying(shop: RunningShop, browser: Browser, screenshots: Path) -> None:
    request = await ask(shop, "/newlink 3 EUR Croissant", RequestMode.SINGLE)
    first = await (await browser.new_context(viewport=PHONE)).new_page()  # type: ignore[arg-type]
    await first.goto(f"{shop.web_url}/r/{request.token}")
    await first.fill("[data-testid=name]", "Wei")
    await first.click("[data-testid=pay-sandbox]")
    await first.wait_for_url("**/sandbox/checkout/**")

    second_context = await browser.new_context(viewport=LAPTOP)  # type: ignore[arg-type]
    second = await second_context.new_page()
    await second.goto(f"{shop.web_url}/r/{request.token}")
    assert (await second.inner_text("[data-testid=status]")).startswith("Wei is paying… try again in ")
    assert await second.locator("[data-testid=pay-form]").count() == 0
    await second.screenshot(path=str(screenshots / "request-laptop-held.png"), full_page=True)
    await first.context.close()
    await second_context.close()


async def test_friends_chip_in_on_a_narrow_screen(shop: RunningShop, browser: Browser, screenshots: Path) -> None:
    request = await ask(shop, "/newlink 12.50 USD Coffee beans", RequestMode.SPLIT, shares=2)
    for name, part in [("Wei", "5"), ("Li", "7.50")]:
        context = await browser.new_context(viewport=PHONE)  # type: ignore[arg-type]
        page = await context.new_page()
        await page.goto(f"{shop.web_url}/r/{request.token}")
        assert await page.locator("[data-testid=progress]").is_visible()
        await page.fill("[data-testid=name]", name)
        await page.fill("[data-testid=part]", part)
        assert await fits_sideways(page)
        await page.screenshot(path=str(screenshots / f"request-split-{name}.png"), full_page=True)
        await page.click("[data-testid=pay-sandbox]")
        await page.wait_for_url("**/sandbox/checkout/**")
        await page.click("[data-testid=pay]")
        assert await page.inner_text("[data-testid=heading]") == "Payment accepted"
        await page.click("text=See the request")
        chips = await page.locator("[data-testid=chip]").all_inner_texts()
        assert any(name in chip for chip in chips)
        await context.close()

    await shop.told(shop.alice, "covered the whole order")
    assert (await shop.daifu.request_views.view(request.token)).request.status == RequestStatus.PAID
