"""The playground page in headless Chromium: the whole pay-for-me story, tapped through as four people.

Ada (the shop's admin) makes a link; Alice scans its QR code, asks a friend to pay and shares the card into
the group "Friends"; Bob taps "Pay for Alice", pays with Stars in the payment sheet, on a phone; Carol sees
the card say paid. With DAIFU_SCREENSHOTS=1 the screenshots go to docs/screenshots/ (for the README).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from tests.browser.conftest import DOCS_SCREENSHOTS
from tests.flows.test_playground_api import running_playground

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1200, "height": 760}


@pytest.fixture
def shots(screenshots: Path) -> Path:
    """docs/screenshots when asked (DAIFU_SCREENSHOTS=1), else the usual throwaway folder."""
    return DOCS_SCREENSHOTS or screenshots


def message(page: Page, words: str) -> Locator:
    """The latest message in the open chat that says these words."""
    return page.get_by_test_id("message").filter(has_text=words).last


async def tap(page: Page, words: str, button: str) -> None:
    await message(page, words).get_by_test_id("button").filter(has_text=button).click()


async def become(page: Page, name: str) -> None:
    await page.get_by_test_id(f"person-{name.lower()}").click()
    await expect(page.get_by_test_id(f"person-{name.lower()}")).to_have_attribute("aria-selected", "true")


async def open_chat(page: Page, kind: str) -> None:
    await page.locator(f"[data-testid=chat-item][data-kind={kind}]").click()


async def fits_sideways(page: Page) -> bool:
    return bool(await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


async def test_ada_sells_alice_asks_the_group_bob_pays_carol_sees(
    browser: Browser, shots: Path, tmp_path: Path, unused_tcp_port: int
) -> None:
    async with running_playground(tmp_path / "playground.db", unused_tcp_port) as url:
        context = await browser.new_context(viewport=LAPTOP, locale="en-US")  # type: ignore[arg-type]
        page: Page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        # The page's CSP allows no inline style or script: anything it would block shows up here.
        page.on("console", lambda said: errors.append(said.text) if "Content Security Policy" in said.text else None)
        await page.goto(url)
        await page.wait_for_selector("body[data-ready]")
        await expect(page.get_by_test_id("person-ada")).to_have_attribute("aria-selected", "true")

        # Ada makes a checkout link; the bot answers with its QR code.
        await page.get_by_test_id("text").fill("/newlink 12.50 USD Coffee beans")
        await page.get_by_test_id("text").press("Enter")
        await message(page, "New checkout link").get_by_test_id("scan").click()
        await page.locator("[data-testid=scanner][data-name=Alice]").click()

        # Alice's phone scanned it: her chat with the bot opens on the order.
        await expect(page.get_by_test_id("person-alice")).to_have_attribute("aria-selected", "true")
        await tap(page, "Coffee beans", "Ask a friend to pay")
        await tap(page, "Add a note", "Skip")
        await tap(page, "Your request is ready", "Share in a chat")
        picker = page.get_by_test_id("pick-chat")
        await expect(picker).to_have_count(4)  # Friends and three people: no chats with bots
        await picker.filter(has_text="Friends").click()
        await page.locator("[data-testid=inline-result][data-result-id^='card:']").click()
        await expect(page.get_by_test_id("chat-title")).to_have_text("Friends")
        await expect(message(page, "asks: please pay for Coffee beans")).to_contain_text("via @daifu_bot")

        # Bob, on his phone, sees the card in the group and pays with Stars.
        await page.set_viewport_size(PHONE)  # type: ignore[arg-type]
        await expect(page.locator("[data-testid=person-bob] [data-testid=unread]")).to_be_visible()
        await become(page, "Bob")
        await open_chat(page, "group")
        await tap(page, "asks: please pay for Coffee beans", "Pay for Alice")
        await expect(page.get_by_test_id("chat-title")).to_have_text("daifu")
        await tap(page, "Alice asks you to pay $12.50", "Pay with Stars (625 ⭐)")
        await page.get_by_test_id("invoice-pay").last.click()
        await expect(page.get_by_test_id("pay-amount")).to_have_text("625 ⭐")
        assert await fits_sideways(page)
        await page.screenshot(path=str(shots / "playground-phone-pay.png"))
        await page.get_by_test_id("pay-confirm").click()
        await expect(message(page, "Payment received")).to_be_visible()
        await expect(page.get_by_test_id("sheet")).not_to_be_visible()
        await page.get_by_test_id("invoice-pay").last.click()  # once more: the bot's pre-checkout says no
        await page.get_by_test_id("pay-confirm").click()
        await expect(page.get_by_test_id("pay-error")).to_contain_text("This order is already paid")
        await page.get_by_test_id("sheet-close").click()

        # Carol, on a laptop, sees the card in the group say who paid; Alice has been told.
        await page.set_viewport_size(LAPTOP)  # type: ignore[arg-type]
        await become(page, "Carol")
        await open_chat(page, "group")
        card = message(page, "please pay for Coffee beans")
        await expect(card).to_contain_text("Paid by Bob ✅")
        await expect(card.get_by_test_id("button")).to_have_count(0)
        await become(page, "Alice")  # back where she was: the group
        await open_chat(page, "bot")
        await expect(message(page, "Bob paid for you")).to_be_visible()
        await page.screenshot(path=str(shots / "playground-laptop.png"))

        # In Chinese: the page's words and the bot's (everyone's Telegram app follows the page), on a phone.
        await page.set_viewport_size(PHONE)  # type: ignore[arg-type]
        await page.get_by_test_id("language-zh_Hans").click()
        await expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
        await become(page, "Ada")
        await page.get_by_test_id("text").fill("/newlink 38 CNY 奶茶")
        await page.get_by_test_id("send").click()
        await message(page, "奶茶").get_by_test_id("scan").click()
        await page.locator("[data-testid=scanner][data-name=Carol]").click()
        order = message(page, "奶茶")
        await expect(order).to_contain_text("¥38.00")
        await expect(order.get_by_test_id("button").first).to_be_visible()
        assert await fits_sideways(page)
        await page.screenshot(path=str(shots / "playground-phone-zh.png"))

        assert errors == []
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/playground", url)
        await context.close()
