"""Two hundred friends press "Pay" on one request at the same moment, a hundred in Telegram and a hundred on
the request's web page (whose requests the web server handles concurrently, each in its own transaction):
exactly one of them holds it, and every other one is told someone else is paying."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.flows.payforme_steps import ask_friend, attempts_and_holder, open_request
from tests.flows.test_request_web_page import WebFriend
from tests.harness import RunningShop

IN_TELEGRAM = 100
ON_THE_WEB = 100


@pytest.fixture
async def browsers(shop: RunningShop) -> AsyncIterator[list[WebFriend]]:
    opened = [WebFriend(shop) for _ in range(ON_THE_WEB)]
    yield opened
    await asyncio.gather(*(browser.client.close() for browser in opened))


async def test_two_hundred_taps_at_once_make_exactly_one_hold(shop: RunningShop, browsers: list[WebFriend]) -> None:
    emu = shop.emu
    request = await ask_friend(shop, shop.alice, await shop.new_link("/newlink 12.50 USD Coffee beans"))
    friends = [emu.add_user(f"Friend{n}", language_code="en") for n in range(IN_TELEGRAM)]
    offers = await asyncio.gather(*(open_request(shop, friend, request) for friend in friends))
    pages = await asyncio.gather(*(browser.get(f"/r/{request}") for browser in browsers))
    assert all(status == 200 for status, _page in pages)

    forms = [
        {"form_token": browser.form_token(), "name": f"Web friend {n}", "method": "sandbox"}
        for n, browser in enumerate(browsers)
    ]
    in_telegram, on_the_web = await asyncio.gather(
        asyncio.gather(
            *(emu.click(friend, offer, "sandbox", timeout=60) for friend, offer in zip(friends, offers, strict=True))
        ),
        asyncio.gather(*(browser.post(f"/r/{request}", form) for browser, form in zip(browsers, forms, strict=True))),
    )

    telegram_holds = [a for a in in_telegram if not (a and a.get("show_alert"))]
    web_holds = [a for a in on_the_web if a[0] == 303]  # redirected to the checkout page
    assert len(telegram_holds) + len(web_holds) == 1
    refused_in_telegram = [a for a in in_telegram if a and a.get("show_alert")]
    assert all("is paying for this right now" in a["text"] for a in refused_in_telegram)
    refused_on_the_web = [a for a in on_the_web if a[0] != 303]
    assert all("is paying" in page for _status, page, _location in refused_on_the_web)
    attempts, holder = await attempts_and_holder(shop, request)
    assert attempts == 1
    assert holder is not None
