"""The pay-for-me story told through the Mini App, in the playground's phone pane, against the real bot and the
Mini App API: every payment runs through the bot's own pre-checkout and successful-payment handlers.

Alice opens her order in the app, splits it in two and shares it to Friends through Telegram's share sheet; Bob opens
the card's app link and chips in his share with Stars; Alice's app, open all along, shows his part arrive; Carol, in
Chinese and the dark theme, covers the rest by card. Phone-sized, one playground and one browser for all of it; with
DAIFU_SCREENSHOTS=1 the screenshots go to docs/screenshots/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import DOCS_SCREENSHOTS
from tests.browser.test_mini_app_in_chromium import app
from tests.browser.test_playground import PHONE, become, message, open_chat
from tests.flows.test_playground_api import running_playground


@pytest.fixture
def shots(screenshots: Path) -> Path:
    return DOCS_SCREENSHOTS or screenshots


async def phone(browser: Browser, url: str, who: str, errors: list[str]) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(viewport=PHONE, locale="en-US")  # type: ignore[arg-type]
    page = await context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda said: errors.append(said.text) if "Content Security Policy" in said.text else None)
    await page.goto(url)
    await page.wait_for_selector("body[data-ready]")
    await become(page, who)
    return context, page


async def open_card_in_app(page: Page) -> None:
    """A friend taps the app link on the request's card in Friends (t.me/<bot>/<app>?startapp=...)."""
    await open_chat(page, "group")
    card = message(page, "asks 2 friends to split")
    await card.locator("[data-testid=button][data-kind=app_link]").first.click()
    await expect(page.get_by_test_id("app-pane")).to_have_attribute("data-ready", "true")


async def pay_in_sheet(page: Page, amount: str) -> None:
    await expect(page.get_by_test_id("pay-amount")).to_contain_text(amount)
    await page.get_by_test_id("pay-confirm").click()
    await expect(page.get_by_test_id("app-pane")).to_have_attribute("data-haptic", "success")


async def test_alice_splits_in_the_app_bob_chips_in_with_stars_carol_covers_the_rest(
    browser: Browser, shots: Path, tmp_path: Path, unused_tcp_port: int
) -> None:
    async with running_playground(tmp_path / "playground.db", unused_tcp_port, mini_app_cards=True) as url:
        errors: list[str] = []
        alices, page = await phone(browser, url, "Ada", errors)
        await page.get_by_test_id("text").fill("/newlink 12.50 USD Coffee beans")
        await page.get_by_test_id("text").press("Enter")
        await message(page, "New checkout link").get_by_test_id("scan").click()
        await page.locator("[data-testid=scanner][data-name=Alice]").click()

        # Alice opens the order in the app: the amount, the ways to pay, Telegram's MainButton to pay it.
        await expect(page.get_by_test_id("person-alice")).to_have_attribute("aria-selected", "true")
        await message(page, "Coffee beans").locator("[data-testid=button][data-kind=web_app]").first.click()
        frame = app(page)
        main = page.get_by_test_id("app-main")
        await expect(frame.get_by_test_id("order-title")).to_have_text("Coffee beans")
        await expect(frame.get_by_test_id("amount")).to_have_text("$12.50")
        await expect(main).to_have_text("Pay $12.50")
        await page.screenshot(path=str(shots / "miniapp-order.png"))

        # She splits it in two, and shares the card to Friends through Telegram's share sheet.
        await frame.get_by_test_id("split").click()
        await frame.get_by_test_id("note").fill("Coffee for the team")
        await expect(main).to_have_text("Split in 2 and share")
        await main.click()
        await page.get_by_test_id("pick-chat").filter(has_text="Friends").click()
        await expect(frame.get_by_test_id("app-toast")).to_have_text("Shared")
        await expect(frame.get_by_test_id("asks")).to_have_text("You asked friends to pay")
        await expect(frame.get_by_test_id("progress")).to_contain_text("$0.00 of $12.50 paid")

        # Bob, on his own phone, opens the card's app link and chips in his share with Stars.
        bobs, bob = await phone(browser, url, "Bob", errors)
        await open_card_in_app(bob)
        bobs_app = app(bob)
        await expect(bobs_app.get_by_test_id("asks")).to_have_text("Alice asks you to pay")
        await expect(bobs_app.get_by_test_id("request-note")).to_have_text("Coffee for the team")
        await expect(bobs_app.get_by_test_id("chip-in-amount")).to_have_value("6.25")
        await bob.screenshot(path=str(shots / "miniapp-request-friend.png"))
        await bobs_app.get_by_test_id("chip-in-stars").click()
        await pay_in_sheet(bob, "⭐")
        await expect(bobs_app.get_by_test_id("app-toast")).to_have_text("Paid. Thank you!")
        await expect(bobs_app.get_by_test_id("progress")).to_contain_text("$6.25 of $12.50 paid")
        await bobs.close()

        # Alice's app, open all this time, shows Bob's part without a reload.
        await expect(frame.get_by_test_id("progress")).to_contain_text("$6.25 of $12.50 paid", timeout=10_000)
        await expect(frame.get_by_test_id("contributions")).to_contain_text("Bob")
        await page.screenshot(path=str(shots / "miniapp-request-progress.png"))

        # Carol's Telegram speaks Chinese and is dark: she covers the rest by card, the MainButton's one action.
        carols, carol = await phone(browser, url, "Carol", errors)
        await carol.get_by_test_id("language-zh_Hans").click()
        await expect(carol.locator("html")).to_have_attribute("lang", "zh-Hans")
        await open_card_in_app(carol)
        await carol.get_by_test_id("app-theme").click()
        carols_app = app(carol)
        await expect(carols_app.locator("html")).to_have_attribute("data-scheme", "dark")
        await expect(carols_app.get_by_test_id("asks")).to_have_text("Alice 请你代付")
        await carol.screenshot(path=str(shots / "miniapp-request-zh-dark.png"))
        await carols_app.get_by_test_id("chip-in-amount").fill("6.25")
        await carol.get_by_test_id("app-main").click()
        await pay_in_sheet(carol, "6.25")
        await carols.close()

        await expect(frame.get_by_test_id("progress")).to_contain_text("$12.50 of $12.50 paid", timeout=10_000)
        await expect(main).to_be_hidden()
        assert errors == []
        await alices.close()
