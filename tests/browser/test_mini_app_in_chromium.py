"""The Mini App in headless Chromium, in the playground's phone pane: the page, daifu's stand-in for Telegram's script
and the pane playing the Telegram app's part of their postMessage protocol, against the real bot.

Alice asks friends to split her order in the chat, then opens the app: her list says what she asked and how far it
got, and follows Bob's chip-in while it is open; in the dark theme and in Chinese too. With DAIFU_SCREENSHOTS=1 the
screenshots go to docs/screenshots/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, FrameLocator, Page, expect

from tests.browser.conftest import DOCS_SCREENSHOTS
from tests.browser.test_playground import LAPTOP, PHONE, become, message, open_chat, tap
from tests.flows.test_playground_api import running_playground


@pytest.fixture
def shots(screenshots: Path) -> Path:
    return DOCS_SCREENSHOTS or screenshots


def app(page: Page) -> FrameLocator:
    return page.frame_locator("[data-testid=app-frame]")


async def open_app(page: Page) -> FrameLocator:
    await open_chat(page, "bot")
    await page.get_by_test_id("open-app").click()
    await expect(page.get_by_test_id("app-pane")).to_have_attribute("data-ready", "true")
    frame = app(page)
    await expect(frame.locator("body")).to_have_attribute("data-ready", "true")
    return frame


async def background_of(page: Page) -> str:
    frame = page.frame_locator("[data-testid=app-frame]")
    return str(await frame.locator("body").evaluate("body => getComputedStyle(body).backgroundColor"))


async def test_alice_follows_her_request_in_the_app_light_dark_and_chinese(
    browser: Browser, shots: Path, tmp_path: Path, unused_tcp_port: int
) -> None:
    async with running_playground(tmp_path / "playground.db", unused_tcp_port) as url:
        context = await browser.new_context(viewport=LAPTOP, locale="en-US")  # type: ignore[arg-type]
        page: Page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        # Neither the playground's policy nor the app's may block anything: a refusal shows up here.
        page.on("console", lambda said: errors.append(said.text) if "Content Security Policy" in said.text else None)
        await page.goto(url)
        await page.wait_for_selector("body[data-ready]")

        # Ada makes a link, Alice scans it and asks two friends to split it, in the chat as before.
        await page.get_by_test_id("text").fill("/newlink 12.50 USD Coffee beans")
        await page.get_by_test_id("text").press("Enter")
        await message(page, "New checkout link").get_by_test_id("scan").click()
        await page.locator("[data-testid=scanner][data-name=Alice]").click()
        await expect(page.get_by_test_id("person-alice")).to_have_attribute("aria-selected", "true")
        await tap(page, "Coffee beans", "Split")
        await expect(message(page, "How many")).to_be_visible()
        await tap(page, "How many", "2")
        await tap(page, "Add a note", "Skip")
        await expect(message(page, "Your request is ready")).to_be_visible()

        # Alice opens the app on her phone: her order, under what she asked friends to pay, with its progress.
        await page.set_viewport_size(PHONE)  # type: ignore[arg-type]
        frame = await open_app(page)
        await expect(frame.locator("h1")).to_have_text("My orders")
        asked = frame.locator("[data-role=asked] [data-testid=order-item]")
        await expect(asked).to_have_count(1)
        await expect(asked).to_contain_text("Coffee beans")
        await expect(asked).to_contain_text("$12.50")
        await expect(asked.get_by_test_id("order-status")).to_have_text(
            "waiting for a friend to pay · 0 of 2 chipped in"
        )
        await expect(page.get_by_test_id("app-main")).to_be_hidden()  # nothing to pay on the list
        await expect(page.get_by_test_id("app-back")).to_be_hidden()  # and nowhere to go back to
        light = await background_of(page)
        await page.screenshot(path=str(shots / "miniapp-list-light.png"))

        # Telegram switches to the dark theme while the app is open: the app takes the new colours at once.
        await page.get_by_test_id("app-theme").click()
        await expect(frame.locator("html")).to_have_attribute("data-scheme", "dark")
        assert await background_of(page) != light
        await page.screenshot(path=str(shots / "miniapp-list-dark.png"))

        # Alice shares the card into Friends; Bob, on his laptop, chips in a share with Stars from there, while
        # Alice's app stays open: its list shows his part without a reload.
        await page.get_by_test_id("app-close").click()
        await tap(page, "Your request is ready", "Share in a chat")
        await page.get_by_test_id("pick-chat").filter(has_text="Friends").click()
        await page.locator("[data-testid=inline-result][data-result-id^='card:']").click()
        frame = await open_app(page)
        bobs = await browser.new_context(viewport=LAPTOP, locale="en-US")  # type: ignore[arg-type]
        bob = await bobs.new_page()
        await bob.goto(url)
        await bob.wait_for_selector("body[data-ready]")
        await become(bob, "Bob")
        await open_chat(bob, "group")
        await tap(bob, "asks 2 friends to split", "Chip in for Alice")
        await tap(bob, "Alice asks", "Chip in a share")
        await tap(bob, "How do you want to pay", "Stars")
        await bob.get_by_test_id("invoice-pay").last.click()
        await bob.get_by_test_id("pay-confirm").click()
        await expect(message(bob, "Payment received")).to_be_visible()
        await bobs.close()
        await expect(frame.get_by_test_id("order-status")).to_contain_text("1 of 2 chipped in", timeout=10_000)

        # In Chinese: the Telegram apps speak it, so the app's own words and daifu's status words follow.
        await page.get_by_test_id("app-close").click()
        await page.get_by_test_id("language-zh_Hans").click()
        await expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
        frame = await open_app(page)
        await expect(frame.locator("html")).to_have_attribute("lang", "zh-Hans")
        await expect(frame.locator("h1")).to_have_text("我的订单")
        await expect(frame.locator("html")).to_have_attribute("data-scheme", "dark")  # Telegram's theme is kept
        await expect(frame.locator("[data-role=asked] h2")).to_have_text("请朋友代付")
        await expect(frame.locator("[data-role=asked] [data-testid=order-item]")).to_contain_text("Coffee beans")
        await page.screenshot(path=str(shots / "miniapp-list-zh-dark.png"))

        assert errors == []
        await context.close()
