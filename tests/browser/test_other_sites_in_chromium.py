"""Another site (served from 127.0.0.2, a different site to the browser) tries daifu's pages in Chromium:
framed, they show nothing; a form it submits by itself to the sandbox checkout or a request page is refused
and pays nothing. And daifu's own pages, under their Content-Security-Policy, work and break no rule."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from playwright.async_api import Browser, ConsoleMessage, Page

from storage.models import OrderStatus
from tests.flows.test_request_web_page import ask, attempts
from tests.flows.test_web_hardening import sandbox_checkout_url
from tests.harness import RunningShop
from tests.ports import free_port

PHONE = {"width": 390, "height": 844}


@asynccontextmanager
async def other_site(pages: dict[str, str]) -> AsyncIterator[str]:
    """A site of someone else's: these HTML pages by path, at http://127.0.0.2:<port>."""
    app = web.Application()
    for path, body in pages.items():

        async def show(_request: web.Request, body: str = body) -> web.Response:
            return web.Response(text=body, content_type="text/html")

        app.router.add_get(path, show)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.2", port).start()
    try:
        yield f"http://127.0.0.2:{port}"
    finally:
        await runner.cleanup()


def framing(*urls: str) -> str:
    frames = "".join(f'<iframe src="{html.escape(url)}" width="400" height="600"></iframe>' for url in urls)
    return f"<!doctype html><title>Win a prize</title><h1>Click Pay to win!</h1>{frames}"


def auto_submitting(action: str, fields: dict[str, str]) -> str:
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
        for name, value in fields.items()
    )
    return (
        f'<!doctype html><form method="post" action="{html.escape(action)}">{inputs}</form>'
        "<script>document.forms[0].submit()</script>"
    )


def console_of(page: Page) -> list[str]:
    said: list[str] = []

    def keep(message: ConsoleMessage) -> None:
        said.append(message.text)

    page.on("console", keep)
    return said


async def test_framed_by_another_site_daifu_shows_nothing(shop: RunningShop, browser: Browser) -> None:
    token, checkout = await sandbox_checkout_url(shop, "/newlink 3 EUR Croissant")
    request = await ask(shop, "/newlink 8 USD Lunch")
    framed = [checkout, f"{shop.web_url}/r/{request.token}", f"{shop.web_url}/o/{token}"]
    async with other_site({"/prize": framing(*framed)}) as site:
        context = await browser.new_context(viewport=PHONE)  # type: ignore[arg-type]
        page = await context.new_page()
        said = console_of(page)
        await page.goto(f"{site}/prize", wait_until="load")

        assert await page.inner_text("h1") == "Click Pay to win!"  # the other site's page itself is shown
        frames = [frame for frame in page.frames if frame != page.main_frame]
        assert len(frames) == len(framed)
        for frame in frames:
            # Chromium shows its own error page in place of a page that refuses to be framed.
            assert await frame.locator("[data-testid=pay], [data-testid=pay-form], [data-testid=amount]").count() == 0
            assert not frame.url.startswith(shop.web_url)
        refused = [text for text in said if "frame-ancestors 'none'" in text]
        assert len(refused) == len(framed), said
        await context.close()
    order = await shop.daifu.orders.by_token(token)
    assert order is not None and order.status != OrderStatus.PAID


async def test_a_form_another_site_submits_pays_nothing(shop: RunningShop, browser: Browser) -> None:
    token, checkout = await sandbox_checkout_url(shop, "/newlink 3 EUR Croissant")
    request = await ask(shop, "/newlink 8 USD Lunch")
    pages = {
        "/pay": auto_submitting(checkout, {"decision": "pay"}),
        "/hold": auto_submitting(
            f"{shop.web_url}/r/{request.token}", {"name": "Puppet", "method": "sandbox", "form_token": "0" * 32}
        ),
    }
    async with other_site(pages) as site:
        context = await browser.new_context(viewport=PHONE)  # type: ignore[arg-type]
        page = await context.new_page()
        # The victim has the checkout open in another tab (so the browser holds daifu's cookies too).
        mine = await context.new_page()
        await mine.goto(f"{shop.web_url}/r/{request.token}")

        for path in ("/pay", "/hold"):
            async with page.expect_navigation(url=lambda url: url.startswith(shop.web_url)):
                await page.goto(f"{site}{path}")
            await page.wait_for_selector("[data-testid=heading]")
            assert await page.inner_text("[data-testid=heading]") == "Not sent from this site", path
            assert "Another website sent this form" in await page.inner_text("[data-testid=message]")
        await context.close()

    order = await shop.daifu.orders.by_token(token)
    assert order is not None and order.status != OrderStatus.PAID
    assert shop.times_told(shop.alice, "Payment received") == 0
    held = await shop.daifu.request_views.by_token(request.token)
    assert held is not None and held.holder is None and await attempts(shop, held) == []


async def test_daifu_pages_work_under_their_policy_and_break_none_of_its_rules(
    shop: RunningShop, browser: Browser
) -> None:
    token, checkout = await sandbox_checkout_url(shop, "/newlink 3 EUR Croissant")
    request = await ask(shop, "/newlink 8 USD Lunch")
    context = await browser.new_context(viewport=PHONE)  # type: ignore[arg-type]
    page = await context.new_page()
    said = console_of(page)

    for url in (f"{shop.web_url}/o/{token}", f"{shop.web_url}/r/{request.token}", f"{shop.web_url}/o/unknown"):
        await page.goto(url, wait_until="load")
        # The stylesheet loaded and applies (its green buttons, its white card).
        card = await page.evaluate("getComputedStyle(document.querySelector('main')).backgroundColor")
        assert card == "rgb(255, 255, 255)", url

    # The request page's form, then the sandbox checkout's Pay button: the whole way, as a friend pays.
    await page.goto(f"{shop.web_url}/r/{request.token}")
    await page.fill("[data-testid=name]", "Wei")
    await page.click("[data-testid=pay-sandbox]")
    await page.wait_for_url("**/sandbox/checkout/**")
    button = await page.evaluate("getComputedStyle(document.querySelector('[data-testid=pay]')).backgroundColor")
    assert button == "rgb(11, 122, 90)"
    await page.click("[data-testid=pay]")
    assert await page.inner_text("[data-testid=heading]") == "Payment accepted"

    await page.goto(checkout)  # Alice's own checkout of the other order, paid too
    await page.click("[data-testid=pay]")
    assert await page.inner_text("[data-testid=heading]") == "Payment accepted"
    await context.close()

    assert not [text for text in said if "Content Security Policy" in text], said
    order = await shop.daifu.orders.by_token(token)
    assert order is not None and order.status == OrderStatus.PAID
