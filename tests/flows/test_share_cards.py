"""A link to an order or a request, pasted into any messenger, shows a card: the pages' Open Graph and Twitter
Card tags, and the picture they point to, drawn again when a friend chips in."""

from __future__ import annotations

import io
from collections.abc import Callable
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from multidict import CIMultiDict
from PIL import Image

from presentation import card_image
from presentation.card_image import CardFace, CardState, Progress, draw_card
from services.money import Money
from storage.models import RequestMode
from tests.flows.test_request_web_page import WebFriend, ask
from tests.harness import RunningShop
from web.share_cards import DrawnCards

ENGLISH = {"Accept-Language": "en-GB,en;q=0.9"}
CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9"}
HOSTILE_TITLE = """"><script>a()</script> & 'x'"""


class Tags(HTMLParser):
    """The <meta> tags of a page, by property or name, with their content as a browser reads it (unescaped)."""

    def __init__(self) -> None:
        super().__init__()
        self.meta: dict[str, str] = {}
        self.scripts = 0
        self.lang = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "meta" and (key := found.get("property") or found.get("name")):
            self.meta[key] = found.get("content") or ""
        elif tag == "script":
            self.scripts += 1
        elif tag == "html":
            self.lang = found.get("lang") or ""


def tags_of(page: str) -> Tags:
    parser = Tags()
    parser.feed(page)
    return parser


async def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, CIMultiDict[str], bytes]:
    async with aiohttp.ClientSession() as client, client.get(url, headers=headers) as answer:
        return answer.status, answer.headers.copy(), await answer.read()


async def page_tags(shop: RunningShop, path: str, headers: dict[str, str]) -> Tags:
    status, _headers, body = await fetch(shop.web_url + path, headers)
    assert status == 200
    return tags_of(body.decode())


def assert_is_a_card(status: int, headers: CIMultiDict[str], body: bytes) -> None:
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert len(body) < 300 * 1024
    image = Image.open(io.BytesIO(body))
    assert image.format == "PNG" and image.size == (1200, 630)


async def test_a_request_page_says_who_asks_for_what_in_the_visitors_language(
    shop: RunningShop,
) -> None:
    request = await ask(shop, "/newlink 12.50 USD Coffee beans")
    page_url = f"{shop.web_url}/r/{request.token}"

    english = await page_tags(shop, f"/r/{request.token}", ENGLISH)
    meta = english.meta
    assert meta["og:title"] == "Coffee beans · $12.50"
    assert meta["og:description"].startswith("Alice asks you to pay $12.50 for Coffee beans at Bean There")
    assert meta["description"] == meta["og:description"] == meta["twitter:description"]
    assert meta["og:site_name"] == "Bean There" and meta["og:type"] == "website"
    assert meta["og:url"] == page_url and meta["og:locale"] == "en_US"
    assert meta["og:image"].startswith(page_url + "/card.png?") and meta["twitter:image"] == meta["og:image"]
    assert (meta["og:image:width"], meta["og:image:height"], meta["og:image:type"]) == ("1200", "630", "image/png")
    assert meta["og:image:alt"] and meta["twitter:card"] == "summary_large_image"
    assert meta["twitter:title"] == meta["og:title"]
    assert_is_a_card(*await fetch(meta["og:image"]))

    chinese = await page_tags(shop, f"/r/{request.token}", CHINESE)
    assert chinese.lang == "zh-Hans" and chinese.meta["og:locale"] == "zh_CN"
    assert chinese.meta["og:description"].startswith("Alice 请你帮忙支付 Bean There 的“Coffee beans”，共 US$12.50")
    assert parse_qs(urlsplit(chinese.meta["og:image"]).query)["lang"] == ["zh_Hans"]
    status, headers, chinese_card = await fetch(chinese.meta["og:image"])
    assert_is_a_card(status, headers, chinese_card)
    _status, _headers, english_card = await fetch(meta["og:image"])
    assert chinese_card != english_card  # drawn in the page's language, not the fetcher's


async def test_an_order_page_says_what_it_costs_in_the_visitors_language(shop: RunningShop) -> None:
    token = await shop.new_link("/newlink 3.00 EUR Croissant")
    page_url = f"{shop.web_url}/o/{token}"

    meta = (await page_tags(shop, f"/o/{token}", ENGLISH)).meta
    assert meta["og:title"] == "Croissant · €3.00"
    assert meta["og:description"] == "Pay €3.00 for Croissant at Bean There"
    assert meta["og:url"] == page_url and meta["og:site_name"] == "Bean There"
    assert meta["og:image"].startswith(page_url + "/card.png?") and meta["twitter:card"] == "summary_large_image"
    assert_is_a_card(*await fetch(meta["og:image"]))

    meta = (await page_tags(shop, f"/o/{token}", CHINESE)).meta
    assert meta["og:description"] == "在 Bean There 支付“Croissant”，共 €3.00"
    assert meta["og:locale"] == "zh_CN"
    assert_is_a_card(*await fetch(meta["og:image"]))


async def test_a_title_with_quotes_and_markup_stays_text_in_the_tags(shop: RunningShop) -> None:
    order = await shop.daifu.orders.create(Money(400, "USD"), HOSTILE_TITLE, created_by=shop.admin.id)
    await shop.emu.send_text(shop.alice, "/help")  # Alice is known to the bot
    await shop.emu.next_bot_message(shop.alice)
    request = (await shop.daifu.asking.ask(order.token, shop.alice.id, mode=RequestMode.SINGLE)).request

    for path in (f"/r/{request.token}", f"/o/{order.token}"):
        for headers in (ENGLISH, CHINESE):
            status, _headers, body = await fetch(shop.web_url + path, headers)
            page = body.decode()
            assert status == 200 and "<script>" not in page
            tags = tags_of(page)
            assert tags.scripts == 0  # nothing in the title became markup
            assert tags.meta["og:title"].startswith(HOSTILE_TITLE)
            assert HOSTILE_TITLE in tags.meta["og:description"] and HOSTILE_TITLE in tags.meta["twitter:title"]
            assert_is_a_card(*await fetch(tags.meta["og:image"]))


async def test_the_card_is_drawn_again_when_a_friend_chips_in(
    shop: RunningShop, friends: Callable[[], WebFriend]
) -> None:
    request = await ask(shop, "/newlink 12.50 USD Coffee beans", mode=RequestMode.SPLIT)
    card_url = f"{shop.web_url}/r/{request.token}/card.png"
    before = await page_tags(shop, f"/r/{request.token}", ENGLISH)
    status, headers, first = await fetch(card_url, ENGLISH)
    assert_is_a_card(status, headers, first)
    first_tag = headers["ETag"]
    assert "max-age" in headers["Cache-Control"]

    status, headers, body = await fetch(card_url, {**ENGLISH, "If-None-Match": first_tag})
    assert status == 304 and body == b"" and headers["ETag"] == first_tag

    wei = friends()
    status, _page, checkout_url = await wei.start_paying(request.token, "Wei", amount="5")
    assert status == 303 and checkout_url
    await wei.pay_on_sandbox(checkout_url)

    status, headers, second = await fetch(card_url, {**ENGLISH, "If-None-Match": first_tag})
    assert_is_a_card(status, headers, second)
    assert headers["ETag"] != first_tag and second != first
    after = await page_tags(shop, f"/r/{request.token}", ENGLISH)
    assert after.meta["og:image"] != before.meta["og:image"]  # messengers keeping images by address fetch it anew
    assert "$5.00 of $12.50 paid, $7.50 left" in after.meta["og:description"]
    status, _headers, body = await fetch(card_url, {**ENGLISH, "If-None-Match": headers["ETag"]})
    assert status == 304


async def test_unknown_links_get_the_pages_404(shop: RunningShop) -> None:
    order = await shop.new_link("/newlink 3 EUR Croissant")
    for path in (f"/r/r_{'z' * 22}/card.png", "/o/nosuchorder1234567890/card.png", f"/r/{order}/card.png"):
        status, headers, body = await fetch(shop.web_url + path, CHINESE)
        assert status == 404 and headers["Content-Type"].startswith("text/html")
        assert "链接" in body.decode()  # the same page, in the visitor's language, as the page's own 404


def test_drawn_cards_stay_within_their_budget() -> None:
    drawn = DrawnCards(budget=250)
    for number in range(10):
        drawn.put(f"v{number}", bytes(100))
    assert drawn.size <= 250 and len(drawn) == 2
    assert drawn.get("v9") is not None and drawn.get("v0") is None


@pytest.fixture
def without_cjk_font(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(card_image, "_font_path", lambda: None)


def test_without_a_chinese_font_the_card_still_shows_the_amount(without_cjk_font: None) -> None:
    face = CardFace(
        title="咖啡豆",
        amount="US$12.50",
        shop="豆子店",
        status="待付款",
        state=CardState.OPEN,
        link="https://example.com/r/r_abc",
        headline="Alice 请你帮忙付款",
        progress=Progress(500, 1250, "已付 US$5.00 / US$12.50，还差 US$7.50"),
    )
    image = Image.open(io.BytesIO(draw_card(face)))
    assert image.size == (1200, 630)
    assert card_image.drawable("US$12.50 咖啡") == "US$12.50"
