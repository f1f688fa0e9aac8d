"""How a link to an order or a request looks where it is shared: the Open Graph and Twitter Card tags of its page,
and the picture they point to (/o/<token>/card.png, /r/<token>/card.png).

The picture is drawn from a CardFace, which holds everything on it in the reader's language; its hash is the
ETag and the key of the cache of drawn cards, so a card is drawn again exactly when what it shows has changed
(a chip-in, a payment, an expiry), and messengers that ask again with If-None-Match get a 304.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from presentation.card_image import CardFace, CardState, Progress, draw_card
from presentation.texts import status_name  # the chat's wording, so card, page and chat agree
from services.config import ShopRules
from services.daifu import Daifu
from services.i18n import LOCALE_NAMES, gettext_for
from services.money import Money, format_money
from services.order_states import PAYABLE
from services.pay_requests import RequestRefused, RequestView
from services.read_models import OrderInfo, OrderStatus, RequestMode, RequestStatus, utcnow
from services.why_not import order_status_now
from web.pages import unknown_link_page, visitor_locale

# Messengers fetch a card when a link is shared and keep their own copy; browsers and proxies may keep it this long.
CACHE_CONTROL = "public, max-age=300"
# Drawn cards kept in memory, the least recently served forgotten first.
CACHE_BYTES = 24 * 1024 * 1024
# Drawing is CPU work done in threads: a link shared into a large group brings many fetches at once, and the
# event loop must stay free for the pages and Telegram's updates.
DRAWINGS_AT_ONCE = 2
OG_LOCALES = {"en": "en_US", "zh_Hans": "zh_CN"}


@dataclass(frozen=True, slots=True)
class ShareTags:
    """What the page's Open Graph and Twitter Card tags say (the template escapes every value)."""

    title: str
    description: str
    site_name: str
    url: str
    image: str
    og_locale: str


def card_locale(request: web.Request) -> str:
    """The language the page's tags asked for (?lang=), else the visitor's, like the pages."""
    wanted = request.query.get("lang", "")
    return wanted if wanted in LOCALE_NAMES else visitor_locale(request)


def _state(status: OrderStatus | RequestStatus) -> CardState:
    if status == OrderStatus.PAID:
        return CardState.PAID
    if status in PAYABLE or status == RequestStatus.OPEN:
        return CardState.OPEN
    return CardState.CLOSED


def order_face(order: OrderInfo, rules: ShopRules, locale: str, now: datetime) -> CardFace:
    _ = gettext_for(locale)
    status = order_status_now(order, now)
    return CardFace(
        title=order.title,
        amount=format_money(order.amount, locale),
        shop=rules.shop_name,
        status=status_name(status, _),
        state=_state(status),
        link=rules.landing_url(order.token),
    )


def request_face(view: RequestView, rules: ShopRules, locale: str, now: datetime) -> CardFace:
    _ = gettext_for(locale)
    status: OrderStatus | RequestStatus = view.status(now)
    if status == RequestStatus.OPEN and order_status_now(view.order, now) not in PAYABLE:
        status = order_status_now(view.order, now)
    progress = None
    if view.request.mode == RequestMode.SPLIT:
        covered = Money(min(view.request.covered_minor, view.total.minor), view.order.currency)
        left = Money(view.total.minor - covered.minor, view.order.currency)
        label = _("{covered} of {total} paid, {remaining} left").format(
            covered=format_money(covered, locale),
            total=format_money(view.total, locale),
            remaining=format_money(left, locale),
        )
        progress = Progress(covered.minor, view.total.minor, label)
    return CardFace(
        title=view.order.title,
        amount=format_money(view.total, locale),
        shop=rules.shop_name,
        status=status_name(status, _),
        state=_state(status),
        link=rules.request_url(view.request.token),
        headline=_("{requester} asks you to pay").format(requester=view.requester_name),
        progress=progress,
    )


def _tags(face: CardFace, page_url: str, description: str, locale: str) -> ShareTags:
    details = [description]
    if face.progress is not None:
        details.append(face.progress.label)
    if face.state != CardState.OPEN:
        details.append(face.status)
    return ShareTags(
        title=f"{face.title} · {face.amount}",
        description=" · ".join(details),
        site_name=face.shop,
        url=page_url,
        # The version in the address: a messenger that keeps images by address fetches a changed card anew.
        image=f"{page_url}/card.png?lang={locale}&v={face.version}",
        og_locale=OG_LOCALES[locale],
    )


def order_tags(order: OrderInfo, rules: ShopRules, locale: str) -> ShareTags:
    _ = gettext_for(locale)
    face = order_face(order, rules, locale, utcnow())
    description = _("Pay {amount} for {title} at {shop}").format(amount=face.amount, title=face.title, shop=face.shop)
    return _tags(face, rules.landing_url(order.token), description, locale)


def request_tags(view: RequestView, rules: ShopRules, locale: str) -> ShareTags:
    _ = gettext_for(locale)
    face = request_face(view, rules, locale, utcnow())
    description = _("{requester} asks you to pay {amount} for {title} at {shop}").format(
        requester=view.requester_name, amount=face.amount, title=face.title, shop=face.shop
    )
    return _tags(face, rules.request_url(view.request.token), description, locale)


class DrawnCards:
    """Cards drawn lately, by version, within a budget of bytes: the least recently served go first."""

    def __init__(self, budget: int = CACHE_BYTES) -> None:
        self.budget = budget
        self.size = 0
        self._cards: OrderedDict[str, bytes] = OrderedDict()

    def get(self, version: str) -> bytes | None:
        card = self._cards.get(version)
        if card is not None:
            self._cards.move_to_end(version)
        return card

    def put(self, version: str, card: bytes) -> None:
        if version in self._cards:
            return
        self._cards[version] = card
        self.size += len(card)
        while self.size > self.budget and self._cards:
            _version, dropped = self._cards.popitem(last=False)
            self.size -= len(dropped)

    def __len__(self) -> int:
        return len(self._cards)


def _etag_matches(request: web.Request, etag: str) -> bool:
    wanted = request.headers.get("If-None-Match", "")
    return any(tag.strip().removeprefix("W/") in (etag, "*") for tag in wanted.split(","))


class ShareCards:
    def __init__(self, daifu: Daifu) -> None:
        self.daifu = daifu
        self.drawn = DrawnCards()
        self._drawing = asyncio.Semaphore(DRAWINGS_AT_ONCE)

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/o/{token}/card.png", self.order_card), web.get("/r/{token}/card.png", self.request_card)]

    async def order_card(self, request: web.Request) -> web.Response:
        order = await self.daifu.orders.by_token(request.match_info["token"])
        if order is None:
            return unknown_link_page(request)
        return await self._answer(request, order_face(order, self.daifu.rules, card_locale(request), utcnow()))

    async def request_card(self, request: web.Request) -> web.Response:
        try:
            view = await self.daifu.request_views.view(request.match_info["token"])
        except RequestRefused:
            return unknown_link_page(request)
        return await self._answer(request, request_face(view, self.daifu.rules, card_locale(request), utcnow()))

    async def _answer(self, request: web.Request, face: CardFace) -> web.Response:
        etag = f'"{face.version}"'
        headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
        if "lang" not in request.query:
            headers["Vary"] = "Accept-Language"
        if _etag_matches(request, etag):
            return web.Response(status=304, headers=headers)
        return web.Response(body=await self.card(face), content_type="image/png", headers=headers)

    async def card(self, face: CardFace) -> bytes:
        card = self.drawn.get(face.version)
        if card is None:
            async with self._drawing:
                # Another fetch of the same card may have drawn it while this one waited its turn.
                card = self.drawn.get(face.version)
                if card is None:
                    card = await asyncio.to_thread(draw_card, face)
                    self.drawn.put(face.version, card)
        return card
