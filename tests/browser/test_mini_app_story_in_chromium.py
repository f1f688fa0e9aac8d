"""The pay-for-me story told through the Mini App, in the playground's phone pane, against the real bot and the
Mini App API: every payment runs through the bot's own pre-checkout and successful-payment handlers.

Alice opens her order in the app, splits it in two and shares it to Friends through Telegram's share sheet; Bob opens
the card's app link and chips in his share with Stars; Alice's app, open all along, shows his part arrive; Carol
covers the rest by card. Told twice, in English in the light theme and in Chinese in the dark one: everyone's
Telegram speaks that language and wears that theme, and the app's words are read from its own words/*.json. On a
small phone (360 px), one playground and one browser per telling; with DAIFU_SCREENSHOTS=1 every step's screenshot
goes to docs/screenshots/miniapp-story-<lang>-<theme>-<NN>-<step>.png.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, FrameLocator, Page, expect

from tests.browser.conftest import DOCS_SCREENSHOTS, SCREENSHOTS_WANTED
from tests.browser.test_mini_app_in_chromium import app, background_of, fits_the_phone
from tests.browser.test_playground import become, message, open_chat
from tests.flows.test_playground_api import running_playground

WORDS_DIR = Path(__file__).resolve().parents[2] / "web" / "static" / "app" / "words"
# The narrowest phones people still carry: what fits here fits the rest.
SMALL_PHONE = {"width": 360, "height": 780}


@dataclass(frozen=True)
class Telling:
    """One telling of the story: the language everyone's Telegram speaks and the theme it wears."""

    locale: str  # the app's words file, and the playground's language
    browser_locale: str  # what the phones' browsers say they speak
    theme: str  # "light" or "dark"
    money: dict[str, str]  # amounts as daifu writes them in this language
    note: str  # Alice's note to her friends
    new_link: str  # a few words of the bot's answer to /newlink
    split_card: str  # and of the request card in Friends

    @property
    def name(self) -> str:
        return f"{self.locale.split('_')[0]}-{self.theme}"

    def words(self) -> dict[str, str]:
        return dict(json.loads((WORDS_DIR / f"{self.locale}.json").read_text(encoding="utf-8")))

    def say(self, key: str, **values: str) -> str:
        """The app's words for this key, filled in as app.js fills them."""
        text = self.words()[key]
        for name, value in values.items():
            text = text.replace("{" + name + "}", value)
        return text


ENGLISH_LIGHT = Telling(
    locale="en",
    browser_locale="en-US",
    theme="light",
    money={"0": "$0.00", "6.25": "$6.25", "12.50": "$12.50"},
    note="Coffee for the team",
    new_link="New checkout link",
    split_card="asks 2 friends to split",
)
CHINESE_DARK = Telling(
    locale="zh_Hans",
    browser_locale="zh-CN",
    theme="dark",
    money={"0": "US$0.00", "6.25": "US$6.25", "12.50": "US$12.50"},
    note="请大家喝的咖啡",
    new_link="付款链接",
    split_card="位好友分摊",
)


class Steps:
    """Each step of the story checked as a person on a small phone would see it, and screenshotted when asked."""

    def __init__(self, telling: Telling, folder: Path) -> None:
        self.telling = telling
        self.folder = folder
        self.count = 0

    async def looked_at(self, page: Page, step: str) -> None:
        frame = app(page)
        await expect(frame.locator("html")).to_have_attribute("data-scheme", self.telling.theme)
        assert looks_like(self.telling.theme, await background_of(page)), f"{step}: not {self.telling.theme}"
        assert await fits_the_phone(frame), f"{step}: wider than the phone"
        self.count += 1
        if SCREENSHOTS_WANTED:
            name = f"miniapp-story-{self.telling.name}-{self.count:02d}-{step}.png"
            await page.screenshot(path=str(self.folder / name))


def looks_like(theme: str, colour: str) -> bool:
    """A dark theme's background is dark and a light one's light, as a person sees it (rgb(r, g, b))."""
    channels = [int(part) for part in colour[colour.index("(") + 1 : colour.index(")")].split(",")[:3]]
    return max(channels) < 64 if theme == "dark" else min(channels) > 192


async def phone(
    browser: Browser, url: str, who: str, telling: Telling, errors: list[str]
) -> tuple[BrowserContext, Page]:
    """A person's phone: its browser speaks the telling's language, and the system (so Telegram) wears its theme."""
    context = await browser.new_context(
        viewport=SMALL_PHONE,  # type: ignore[arg-type]
        locale=telling.browser_locale,
        color_scheme="dark" if telling.theme == "dark" else "light",
    )
    page = await context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda said: errors.append(said.text) if "Content Security Policy" in said.text else None)
    await page.goto(url)
    await page.wait_for_selector("body[data-ready]")
    await become(page, who)
    return context, page


async def open_card_in_app(page: Page, telling: Telling) -> FrameLocator:
    """A friend taps the app link on the request's card in Friends (t.me/<bot>/<app>?startapp=...)."""
    await open_chat(page, "group")
    card = message(page, telling.split_card)
    await card.locator("[data-testid=button][data-kind=app_link]").first.click()
    await expect(page.get_by_test_id("app-pane")).to_have_attribute("data-ready", "true")
    return app(page)


@pytest.mark.parametrize("telling", [ENGLISH_LIGHT, CHINESE_DARK], ids=lambda telling: telling.name)
async def test_alice_splits_in_the_app_bob_chips_in_with_stars_carol_covers_the_rest(
    browser: Browser, screenshots: Path, tmp_path: Path, unused_tcp_port: int, telling: Telling
) -> None:
    say, money = telling.say, telling.money
    steps = Steps(telling, DOCS_SCREENSHOTS or screenshots)
    async with running_playground(tmp_path / "playground.db", unused_tcp_port, mini_app_cards=True) as url:
        errors: list[str] = []
        alices, page = await phone(browser, url, "Ada", telling, errors)
        await page.get_by_test_id("text").fill("/newlink 12.50 USD Coffee beans")
        await page.get_by_test_id("text").press("Enter")
        await message(page, telling.new_link).get_by_test_id("scan").click()
        await page.locator("[data-testid=scanner][data-name=Alice]").click()

        # Alice opens the order in the app: the amount, the ways to pay, Telegram's MainButton to pay it.
        await expect(page.get_by_test_id("person-alice")).to_have_attribute("aria-selected", "true")
        await message(page, "Coffee beans").locator("[data-testid=button][data-kind=web_app]").first.click()
        frame = app(page)
        main = page.get_by_test_id("app-main")
        await expect(frame.get_by_test_id("order-title")).to_have_text("Coffee beans")
        await expect(frame.get_by_test_id("amount")).to_have_text(money["12.50"])
        await expect(main).to_have_text(say("pay_amount", amount=money["12.50"]))
        await steps.looked_at(page, "order")

        # She splits it in two, and shares the card to Friends through Telegram's share sheet.
        await frame.get_by_test_id("split").click()
        await frame.get_by_test_id("note").fill(telling.note)
        await expect(main).to_have_text(say("split_in", shares="2"))
        await steps.looked_at(page, "split")
        await main.click()
        await page.get_by_test_id("pick-chat").filter(has_text="Friends").click()
        await expect(frame.get_by_test_id("app-toast")).to_have_text(say("shared"))
        await expect(frame.get_by_test_id("asks")).to_have_text(say("you_asked"))
        await expect(frame.get_by_test_id("progress")).to_contain_text(
            say("covered_of", covered=money["0"], amount=money["12.50"])
        )
        await expect(main).to_be_hidden()  # she waits for friends: paying is not her main action now
        # She may still chip in herself, and the app says what that means, as the chat does.
        await expect(frame.get_by_test_id("own-request")).to_have_text(say("own_request"))
        await steps.looked_at(page, "shared")

        # Bob, on his own phone, opens the card's app link and chips in his share with Stars.
        bobs, bob = await phone(browser, url, "Bob", telling, errors)
        bobs_app = await open_card_in_app(bob, telling)
        await expect(bobs_app.get_by_test_id("asks")).to_have_text(say("asks_you", name="Alice"))
        await expect(bobs_app.get_by_test_id("request-note")).to_have_text(telling.note)
        await expect(bobs_app.get_by_test_id("chip-in-amount")).to_have_value("6.25")
        await expect(bob.get_by_test_id("app-main")).to_have_text(say("chip_in_card"))
        await expect(bobs_app.get_by_test_id("own-request")).to_have_count(0)
        await steps.looked_at(bob, "request")
        await bobs_app.get_by_test_id("chip-in-stars").click()
        await expect(bob.get_by_test_id("pay-amount")).to_contain_text("⭐")
        await steps.looked_at(bob, "sheet")
        await bob.get_by_test_id("pay-confirm").click()
        await expect(bob.get_by_test_id("app-pane")).to_have_attribute("data-haptic", "success")
        await expect(bobs_app.get_by_test_id("app-toast")).to_have_text(say("paid"))
        await expect(bobs_app.get_by_test_id("progress")).to_contain_text(
            say("covered_of", covered=money["6.25"], amount=money["12.50"])
        )
        await bobs.close()

        # Alice's app, open all this time, shows Bob's part without a reload.
        await expect(frame.get_by_test_id("progress")).to_contain_text(
            say("covered_of", covered=money["6.25"], amount=money["12.50"]), timeout=10_000
        )
        await expect(frame.get_by_test_id("progress")).to_contain_text(say("remaining", remaining=money["6.25"]))
        await expect(frame.get_by_test_id("contributions")).to_contain_text("Bob")
        await expect(frame.get_by_test_id("split-between")).to_have_text(
            say("split_between", shares="2", share=money["6.25"])
        )
        await expect(frame.get_by_test_id("app-toast")).to_be_hidden()  # "Shared" has had its few seconds
        await steps.looked_at(page, "progress")

        # Carol covers the rest by card, the MainButton's one action.
        carols, carol = await phone(browser, url, "Carol", telling, errors)
        carols_app = await open_card_in_app(carol, telling)
        await expect(carols_app.get_by_test_id("asks")).to_have_text(say("asks_you", name="Alice"))
        await carols_app.get_by_test_id("chip-in-amount").fill("6.25")
        await expect(carol.get_by_test_id("app-main")).to_have_text(say("chip_in_card"))
        await carol.get_by_test_id("app-main").click()
        await expect(carol.get_by_test_id("pay-amount")).to_contain_text("6.25")
        await carol.get_by_test_id("pay-confirm").click()
        await expect(carol.get_by_test_id("app-pane")).to_have_attribute("data-haptic", "success")
        await expect(carols_app.get_by_test_id("app-toast")).to_have_text(say("paid"))
        await carols.close()

        # Alice's app says it is all paid, and there is nothing left to press.
        await expect(frame.get_by_test_id("progress")).to_contain_text(
            say("covered_of", covered=money["12.50"], amount=money["12.50"]), timeout=10_000
        )
        await expect(main).to_be_hidden()
        await expect(frame.get_by_test_id("split-between")).to_be_hidden()  # no "$0.00 each" once it is all paid
        await steps.looked_at(page, "paid")
        assert errors == []
        await alices.close()
