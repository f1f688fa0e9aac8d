"""Every web page a person sees, in headless Chromium at a phone's and a laptop's size, in English and Chinese:
nothing wider than the screen, long titles and names wrapped rather than cut or sticking out, the buttons a
person needs on screen.

With DAIFU_SCREENSHOTS=1 each page is photographed at both sizes in both languages into docs/screenshots/
(docs/features.md links them). A new page is one line of PAGES, its address taken from the Scene.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from playwright.async_api import Browser, Page
from sqlmodel import col, select

from emulator.state import User
from payments.base import Amount, CheckoutRequest
from storage.models import PayRequest, RequestMode, utcnow
from tests.browser.conftest import DOCS_SCREENSHOTS
from tests.flows.test_request_web_page import WebFriend
from tests.harness import RunningShop, running_shop

SIZES = {"phone": {"width": 360, "height": 740}, "laptop": {"width": 1280, "height": 800}}
LANGUAGES = {"en": "en-US", "zh": "zh-CN"}
# As long as a title and a name can be, without a space to break at: they must wrap anyway.
LONG_TITLE = "Rindfleischetikettierungsaufgabe"  # 32 characters, Telegram's limit for an invoice title
LONG_NAME = "Wolfeschlegelsteinhausenbergerdorff"
LARGEST = 100_000_000  # in cents: $1,000,000.00, the most an order can ask
LONG_SHOP = "Kaffeerösterei Hinterhofbohnenmanufaktur"
LONG_NOTE = "for my birthday, see https://example.com/wishlist/kaffeebohnen-geschenkbox-deluxe-edition-2026"


@dataclass(frozen=True, slots=True)
class Scene:
    """Addresses of the pages in each state worth seeing, all made before the browser looks."""

    order_open: str
    order_paid: str
    request_open: str
    request_held: str
    request_split: str
    request_paid: str
    request_expired: str
    sandbox_checkout: str
    checkout_expired: str
    # Where the sandbox sends a web payer after paying: their receipt.
    receipt_paid: str


@dataclass(frozen=True, slots=True)
class Shown:
    """A page in one state: its name (of its screenshots), its address, and what must be on screen."""

    name: str
    url: Callable[[Scene], str]
    needs: tuple[str, ...]  # data-testid values that must be visible


PAGES = [
    Shown("order-open", lambda scene: scene.order_open, ("amount", "pay-sandbox", "ask-friend")),
    Shown("order-paid", lambda scene: scene.order_paid, ("amount", "status")),
    Shown("request-open", lambda scene: scene.request_open, ("ask", "note", "name", "pay-sandbox")),
    Shown("request-held", lambda scene: scene.request_held, ("ask", "status")),
    Shown("request-split", lambda scene: scene.request_split, ("progress", "chip", "name", "part", "pay-sandbox")),
    Shown("request-paid", lambda scene: scene.request_paid, ("ask", "status")),
    Shown("request-expired", lambda scene: scene.request_expired, ("ask", "closed")),
    Shown("sandbox-checkout", lambda scene: scene.sandbox_checkout, ("amount", "pay", "decline")),
    Shown("receipt-paid", lambda scene: scene.receipt_paid, ("heading", "status", "paid-amount", "reference")),
    Shown("not-found", lambda _scene: "/r/r_AAAAAAAAAAAAAAAAAAAAAA", ("heading", "message")),
    Shown("checkout-expired", lambda scene: scene.checkout_expired, ("heading", "message")),
]

MONEY = "[data-testid=amount], [data-testid=chip] > span:last-child"
# What is wrong with a page at one size, each thing described, none when it is right: an element sticking out
# of the screen or of its parent's content box, or with content sticking out of it (a word too long for its box;
# form fields scroll their own text and are left out), an amount broken over lines, a needed element missing or
# hidden, a page not in the visitor's language. One call per page and size: the browser is asked nothing else.
WHAT_IS_WRONG = """({money, needs, language}) => {
  const width = window.innerWidth;
  const found = [];
  if (!document.documentElement.lang.startsWith(language)) found.push(`in ${document.documentElement.lang}`);
  const root = document.documentElement;
  if (root.scrollWidth > width) found.push(`the page is ${root.scrollWidth}px wide`);
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    const what = el.tagName.toLowerCase() + (el.dataset.testid ? `[${el.dataset.testid}]` : '')
      + (el.className ? `.${el.className}` : '');
    const parent = el.parentElement;
    const around = parent.getBoundingClientRect();
    const style = getComputedStyle(parent);
    const inside = [around.left + parseFloat(style.borderLeftWidth) + parseFloat(style.paddingLeft),
                    around.right - parseFloat(style.borderRightWidth) - parseFloat(style.paddingRight)];
    if (box.left < -0.5 || box.right > width + 0.5) {
      found.push(`${what} spans ${Math.round(box.left)}..${Math.round(box.right)}px`);
    } else if (parent !== document.body && (box.left < inside[0] - 0.5 || box.right > inside[1] + 0.5)) {
      const by = Math.round(Math.max(inside[0] - box.left, box.right - inside[1]));
      found.push(`${what} sticks out of ${parent.tagName.toLowerCase()} by ${by}px`);
    } else if (!['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName) && el.clientWidth > 0
               && el.scrollWidth > el.clientWidth + 1) {
      found.push(`${what}: ${el.scrollWidth}px of content in ${el.clientWidth}px`);
    }
  }
  // An amount broken over two lines reads as two numbers.
  for (const el of document.querySelectorAll(money)) {
    const text = document.createRange();
    text.selectNodeContents(el);
    const lines = new Set([...text.getClientRects()].map((line) => Math.round(line.top))).size;
    if (lines > 1) found.push(`${el.textContent.trim()} is broken over ${lines} lines`);
  }
  for (const testid of needs) {
    const el = document.querySelector(`[data-testid="${testid}"]`);
    if (!el || !el.checkVisibility({visibilityProperty: true, opacityProperty: true})) {
      found.push(`no ${testid} to be seen`);
    }
  }
  return found;
}"""


async def known(shop: RunningShop, person: User) -> None:
    """The bot learns a person's name when they first write to it."""
    await shop.emu.send_text(person, "/help")
    await shop.emu.next_bot_message(person)


async def ask(
    shop: RunningShop, person: User, command: str, mode: RequestMode, *, note: str = "", shares: int | None = None
) -> PayRequest:
    order_token = await shop.new_link(command)
    return (await shop.daifu.asking.ask(order_token, person.id, mode=mode, note=note, shares=shares)).request


async def order_token_of(shop: RunningShop, request: PayRequest) -> str:
    return (await shop.daifu.request_views.view(request.token)).order.token


async def expire(shop: RunningShop, request: PayRequest) -> None:
    async with shop.daifu.db.transaction() as session:
        row = (await session.exec(select(PayRequest).where(col(PayRequest.id) == request.id))).one()
        row.expires_at = utcnow() - timedelta(minutes=1)
        session.add(row)


async def expired_checkout(shop: RunningShop, order_token: str) -> str:
    """A sandbox checkout page whose time ran out."""
    gateway = shop.daifu.providers["sandbox"]
    checkout = await gateway.create_checkout(
        CheckoutRequest(
            checkout_ref="screens-expired",
            order_token=order_token,
            title=LONG_TITLE,
            description=LONG_TITLE,
            amount=Amount(LARGEST, "USD"),
            expires_at=utcnow() - timedelta(minutes=1),
            return_url=shop.web_url,
        )
    )
    assert checkout.url is not None
    return checkout.url


async def set_the_scene(shop: RunningShop) -> Scene:
    requester = shop.emu.add_user(LONG_NAME, username="wolfe", language_code="en")
    await known(shop, requester)
    command = f"/newlink {LARGEST / 100:.2f} USD {LONG_TITLE}"
    order_open = await shop.new_link(command)
    opened = await ask(shop, requester, command, RequestMode.SINGLE, note=LONG_NOTE)
    held = await ask(shop, requester, command, RequestMode.SINGLE)
    paid = await ask(shop, requester, command, RequestMode.SINGLE, note=LONG_NOTE)
    split = await ask(shop, requester, command, RequestMode.SPLIT, shares=3)
    expired = await ask(shop, requester, command, RequestMode.SINGLE)
    await expire(shop, expired)

    holder, payer, chipper = WebFriend(shop), WebFriend(shop), WebFriend(shop)
    try:
        _status, _page, sandbox_checkout = await holder.start_paying(held.token, LONG_NAME)
        _status, _page, checkout = await payer.start_paying(paid.token, LONG_NAME)
        assert checkout is not None
        await payer.get(checkout)
        _status, _page, receipt_paid = await payer.post(checkout, {"decision": "pay"})
        assert receipt_paid is not None and "/receipt/" in receipt_paid
        _status, _page, checkout = await chipper.start_paying(split.token, LONG_NAME, amount="1000")
        assert checkout is not None
        await chipper.pay_on_sandbox(checkout)
    finally:
        for friend in (holder, payer, chipper):
            await friend.client.close()
    assert sandbox_checkout is not None
    await shop.all_told()
    return Scene(
        order_open=f"/o/{order_open}",
        order_paid=f"/o/{await order_token_of(shop, paid)}",
        request_open=f"/r/{opened.token}",
        request_held=f"/r/{held.token}",
        request_split=f"/r/{split.token}",
        request_paid=f"/r/{paid.token}",
        request_expired=f"/r/{expired.token}",
        sandbox_checkout=sandbox_checkout,
        checkout_expired=await expired_checkout(shop, order_open),
        receipt_paid=receipt_paid,
    )


async def what_is_wrong(page: Page, shown: Shown, language: str) -> list[str]:
    wrong: list[str] = await page.evaluate(
        WHAT_IS_WRONG, {"money": MONEY, "needs": list(shown.needs), "language": language}
    )
    return wrong


@pytest.fixture
async def long_named_shop(database_url: str, unused_tcp_port: int) -> AsyncIterator[RunningShop]:
    async with running_shop(database_url, unused_tcp_port, shop_name=LONG_SHOP) as running:
        yield running


# Layout does not depend on the database: one is enough.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_every_page_fits_a_phone_and_a_laptop_in_both_languages(
    long_named_shop: RunningShop, browser: Browser
) -> None:
    shop = long_named_shop
    scene = await set_the_scene(shop)
    wrong: list[str] = []  # every page is looked at before the test says what is wrong, all of it at once
    for language, locale in LANGUAGES.items():
        context = await browser.new_context(locale=locale, viewport=SIZES["phone"])  # type: ignore[arg-type]
        page = await context.new_page()
        for shown in PAGES:
            url = shown.url(scene)
            await page.goto(url if url.startswith("http") else shop.web_url + url)
            for size, viewport in SIZES.items():
                await page.set_viewport_size(viewport)  # type: ignore[arg-type]
                found = await what_is_wrong(page, shown, language)
                wrong += [f"{shown.name}, {size}, {language}: {what}" for what in found]
                if DOCS_SCREENSHOTS is not None:
                    await page.screenshot(
                        path=str(DOCS_SCREENSHOTS / f"{shown.name}-{size}-{language}.png"), full_page=True
                    )
        await context.close()
    assert wrong == [], "\n".join(wrong)
