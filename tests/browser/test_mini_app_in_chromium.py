"""The Mini App in headless Chromium, in the playground's phone pane: the page, daifu's stand-in for Telegram's script
and the pane playing the Telegram app's part of their postMessage protocol, against the real bot.

Alice asks friends to split her order in the chat, then opens the app: her list says what she asked and how far it
got, and follows Bob's chip-in while it is open; in both themes and both languages. With DAIFU_SCREENSHOTS=1 the
screenshots go to docs/screenshots/.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, FrameLocator, Page, Route, expect

from tests.browser.conftest import DOCS_SCREENSHOTS
from tests.browser.test_playground import LAPTOP, PHONE, become, message, open_chat, tap
from tests.flows.test_playground_api import ALICE, BOB, running_playground


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


async def fits_the_phone(frame: FrameLocator) -> bool:
    """Nothing in the app is wider than its pane: no sideways scrolling."""
    return bool(await frame.locator("html").evaluate("html => html.scrollWidth <= html.clientWidth"))


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
        assert await fits_the_phone(frame)
        light = await background_of(page)
        await page.screenshot(path=str(shots / "miniapp-list-en-light.png"))

        # Telegram switches to the dark theme while the app is open: the app takes the new colours at once.
        await page.get_by_test_id("app-theme").click()
        await expect(frame.locator("html")).to_have_attribute("data-scheme", "dark")
        assert await background_of(page) != light
        await page.screenshot(path=str(shots / "miniapp-list-en-dark.png"))

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

        # And back to the light theme, still in Chinese.
        await page.get_by_test_id("app-theme").click()
        await expect(frame.locator("html")).to_have_attribute("data-scheme", "light")
        assert await background_of(page) == light
        assert await fits_the_phone(frame)
        await page.screenshot(path=str(shots / "miniapp-list-zh-light.png"))

        assert errors == []
        await context.close()


# --- the screens whose API routes come from the Mini App API's own branch -----------------------------------------
# Drawn from answers shaped as the API contract says (the brief's "Mini App API contract"), served to the frame by
# Playwright; everything else is real: the page, the stand-in for Telegram's script, the pane and its sheets.

QR = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 1 1'%3E%3C/svg%3E"
MONEY = {"minor": 1250, "currency": "USD", "formatted": "$12.50"}


def usd(minor: int) -> dict[str, Any]:
    return {"minor": minor, "currency": "USD", "formatted": f"${minor / 100:.2f}"}


class ContractApi:
    """Answers /app/api/ as the contract describes, and keeps what the app sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any]] = []
        self.covered = 0
        self.requester = True
        self.admin = False
        self.reminded = False

    def order(self) -> dict[str, Any]:
        return {
            "order": {
                "token": "ORD",
                "number": 7,
                "title": "Coffee beans",
                "description": "Two bags",
                "shop": "Bean There",
                "amount": MONEY,
                "status": {"code": "open", "words": "waiting for payment"},
            },
            "methods": [
                {"id": "stars", "label": "Pay with Stars (625 ⭐)", "kind": "invoice"},
                {"id": "telegram", "label": "Pay by card", "kind": "invoice"},
                {"id": "sandbox", "label": "Sandbox", "kind": "web"},
            ],
            "request": None,
            "can": {"pay": True, "ask": True, "split": True, "cancel": self.admin},
        }

    def request(self) -> dict[str, Any]:
        return {
            "request": {
                "token": "r_REQ",
                "mode": "split",
                "shares": 3,
                "share": usd(417),
                "note": "Thanks!",
                "status": {"code": "open", "words": "waiting for friends"},
                "covered": usd(self.covered),
                "remaining": usd(1250 - self.covered),
                "holder_name": None,
                "hold_until": None,
                "expires_at": "2026-12-08T10:00:00Z",
            },
            "order": {"title": "Coffee beans", "amount": MONEY, "shop": "Bean There"},
            "requester": {"name": "Alice"},
            "is_requester": self.requester,
            "can": {
                "pay": not self.requester,
                "chip_in": not self.requester,
                "cancel": self.requester,
                "share": self.requester,
                "remind": self.requester and not self.reminded,
            },
            "contributions": [{"name": "Bob", "amount": usd(self.covered)}] if self.covered else [],
        }

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        self.sent.append((method, path, body))
        if path == "me":
            person = {"id": ALICE, "name": "Alice", "locale": "en"}
            listed = {
                "number": 7,
                "token": "ORD",
                "role": "bought",
                "title": "Coffee beans",
                "amount": MONEY,
                "status": {"code": "open", "words": "waiting for payment"},
                "request": None,
                "can": {"pay": True, "share": False, "cancel": False, "remind": False},
            }
            return 200, {"person": person, "orders": [listed], "page": 0, "has_more": False, "is_admin": self.admin}
        if path == "orders/ORD":
            return 200, self.order()
        if path in ("orders/ORD/invoice", "requests/r_REQ/invoice"):
            return 200, {"url": "https://t.me/$no-such-invoice"}
        if path == "orders/ORD/ask":
            return 200, {"request": self.request()["request"], "prepared_message_id": "PREP", "inline_query": "r_REQ"}
        if path == "requests/r_REQ":
            return 200, self.request()
        if path == "requests/r_REQ/remind":
            self.reminded = True
            return 200, {"reminded": 1, "words": "Reminded 1 friend(s) who opened your request.", **self.request()}
        if path == "orders/ORD/cancel":
            return 200, {"order": {"token": "ORD", "status": {"code": "cancelled", "words": "cancelled"}}}
        if path == "admin/links":
            made = {"token": "ORD", "link": "https://t.me/daifu_bot?start=ORD", "qr_svg_url": QR, "page_url": "/o/ORD"}
            return 200, {"order": made}
        return 404, {"error": "not found", "code": "unknown"}

    async def route(self, route: Route) -> None:
        path = route.request.url.split("/app/api/", 1)[1].split("?")[0]
        body = json.loads(route.request.post_data) if route.request.post_data else None
        status, answer = self.answer(route.request.method, path, body)
        await route.fulfill(status=status, json=answer)


async def test_the_order_ask_and_request_screens_speak_the_api_contract(
    browser: Browser, shots: Path, tmp_path: Path, unused_tcp_port: int
) -> None:
    api = ContractApi()
    async with running_playground(tmp_path / "playground.db", unused_tcp_port) as url:
        context = await browser.new_context(viewport=PHONE, locale="en-US")  # type: ignore[arg-type]
        page: Page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda said: errors.append(said.text) if "Content Security Policy" in said.text else None)
        await page.route("**/app/api/**", api.route)
        await page.goto(url)
        await page.wait_for_selector("body[data-ready]")
        await become(page, "Alice")
        frame = await open_app(page)
        main, back, pane = (
            page.get_by_test_id("app-main"),
            page.get_by_test_id("app-back"),
            page.get_by_test_id("app-pane"),
        )

        # The order: the one primary action is Telegram's MainButton, paying by card first; Back leads to the list.
        await frame.locator("[data-role=bought] [data-testid=order-item]").click()
        await expect(frame.get_by_test_id("order-title")).to_have_text("Coffee beans")
        await expect(frame.get_by_test_id("amount")).to_have_text("$12.50")
        await expect(main).to_have_text("Pay $12.50")
        await expect(back).to_be_visible()
        await expect(frame.get_by_test_id("methods").get_by_role("button")).to_have_text(
            ["Pay with Stars (625 ⭐)", "Pay by card", "Sandbox"]
        )
        assert await fits_the_phone(frame)
        await page.screenshot(path=str(shots / "miniapp-order.png"))
        # The invoice link opens the pane's payment sheet; one the emulator never made fails, and the app says so.
        await main.click()
        await expect(pane).to_have_attribute("data-haptic", "error")
        await expect(frame.get_by_test_id("app-toast")).to_have_text("The payment did not go through")
        assert ("POST", "orders/ORD/invoice", {"method": "telegram"}) in api.sent

        # Asking: split in three with a note; the request is made, then Telegram's share sheet offers the chats.
        await frame.get_by_test_id("split").click()
        await expect(frame.get_by_test_id("mode-split")).to_have_attribute("aria-checked", "true")
        await frame.get_by_test_id("more").click()
        await expect(frame.get_by_test_id("shares")).to_have_text("3")
        await frame.get_by_test_id("note").fill("Thanks!")
        await expect(main).to_have_text("Split in 3 and share")
        await main.click()
        await expect(page.get_by_test_id("pick-chat")).to_have_count(4)  # Friends and three people, no bot chats
        assert ("POST", "orders/ORD/ask", {"mode": "split", "shares": 3, "note": "Thanks!"}) in api.sent
        await page.get_by_test_id("sheet-close").click()

        # The request, as Alice sees it: her own, with its progress; a chip-in arriving redraws it while it is open.
        await expect(frame.get_by_test_id("asks")).to_have_text("You asked friends to pay")
        await expect(frame.get_by_test_id("progress")).to_contain_text("$0.00 of $12.50 paid")
        await expect(main).to_be_hidden()
        api.covered = 417
        await expect(frame.get_by_test_id("progress")).to_contain_text("$4.17 of $12.50 paid · $8.33 to go")
        await expect(frame.get_by_test_id("contributions")).to_contain_text("Bob")
        await expect(frame.get_by_test_id("cancel-request")).to_be_visible()
        assert await fits_the_phone(frame)  # Share again, Remind friends and Cancel side by side
        # She reminds the friends who opened it: daifu's words say how many, and Remind waits its half hour.
        await frame.get_by_test_id("remind").click()
        await expect(frame.get_by_test_id("app-toast")).to_have_text("Reminded 1 friend(s) who opened your request.")
        await expect(frame.get_by_test_id("remind")).to_be_hidden()
        assert ("POST", "requests/r_REQ/remind", {}) in api.sent

        # Back: the order again (the ask screen was replaced by the request), then the list, where Back is hidden.
        await back.click()
        await expect(frame.get_by_test_id("order-title")).to_have_text("Coffee beans")
        await expect(main).to_have_attribute(
            "data-progress", "false"
        )  # its Pay is idle, not still in the ask's progress
        await back.click()
        await expect(frame.locator("h1")).to_have_text("My orders")
        await expect(back).to_be_hidden()

        # A friend's view: Bob opens a direct link to the app (t.me/<bot>/<app>?startapp=r_<request>) posted in the
        # group; the request opens at once, his share offered, any amount he types paid by card or with Stars.
        api.requester = False
        await page.get_by_test_id("app-close").click()  # on a phone the app covers the chats
        await become(page, "Bob")
        await open_chat(page, "group")
        await page.get_by_test_id("text").fill("https://t.me/daifu_bot/app?startapp=r_REQ")
        await page.get_by_test_id("text").press("Enter")
        await message(page, "startapp=r_REQ").get_by_role("link").click()
        await expect(pane).to_have_attribute("data-person", str(BOB))
        await expect(frame.get_by_test_id("asks")).to_have_text("Alice asks you to pay")
        await expect(frame.get_by_test_id("request-note")).to_have_text("Thanks!")
        await expect(frame.get_by_test_id("chip-in-amount")).to_have_value("4.17")
        await expect(main).to_have_text("Chip in by card")
        await expect(back).to_be_visible()  # the list is under it
        assert await fits_the_phone(frame)
        await page.screenshot(path=str(shots / "miniapp-request-friend.png"))
        await frame.get_by_test_id("chip-in-amount").fill("3")
        await frame.get_by_test_id("chip-in-stars").click()
        await expect(pane).to_have_attribute("data-haptic", "error")
        await expect(frame.get_by_test_id("app-toast")).to_have_text("The payment did not go through")
        assert ("POST", "requests/r_REQ/invoice", {"method": "stars", "amount_minor": 300}) in api.sent
        await frame.get_by_test_id("chip-in-amount").fill("3.333")  # more digits than dollars have
        await main.click()
        await expect(frame.get_by_test_id("app-toast")).to_have_text("Type an amount, such as 3.50")

        # An admin makes a new link in the app: the amount as /newlink reads it, then the QR code and the link.
        api.admin = True
        await page.get_by_test_id("app-close").click()
        await become(page, "Ada")
        frame = await open_app(page)
        await frame.get_by_test_id("new-link").click()
        await frame.get_by_test_id("link-title").fill("Tea")
        await frame.get_by_test_id("link-amount").fill("4.20")
        await expect(main).to_have_text("Make the link")
        await main.click()
        await expect(frame.get_by_test_id("made-link")).to_have_value("https://t.me/daifu_bot?start=ORD")
        await expect(frame.get_by_test_id("qr")).to_be_visible()
        await expect(main).to_be_hidden()
        assert ("POST", "admin/links", {"title": "Tea", "amount": "4.20", "currency": "USD"}) in api.sent
        await frame.get_by_test_id("open-made").click()
        await expect(frame.get_by_test_id("order-title")).to_have_text("Coffee beans")
        # An admin cancels an unpaid order as /cancel does, with a second tap to be sure.
        cancel = frame.get_by_test_id("cancel-order")
        await cancel.click()
        await expect(cancel).to_have_text("Tap again to cancel the order")
        assert ("POST", "orders/ORD/cancel", {}) not in api.sent
        await cancel.click()
        await expect(frame.get_by_test_id("app-toast")).to_have_text("The order is cancelled")
        assert ("POST", "orders/ORD/cancel", {}) in api.sent
        assert errors == []
        await context.close()
