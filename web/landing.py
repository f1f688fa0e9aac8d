"""The web landing page of an order, and its QR code as PNG and SVG."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from presentation.texts import status_name, when  # the chat's wording, so page and chat agree
from services.daifu import Daifu
from services.i18n import gettext_for
from services.links import deep_link, qr_png, qr_svg
from services.money import Money, format_money
from services.order_states import PAYABLE
from services.read_models import OrderInfo, OrderStatus, utcnow
from services.why_not import order_status_now
from web.pages import message_page, render, visitor_locale
from web.share_cards import order_tags

STATUS_CLASS = {OrderStatus.PAID: "paid", OrderStatus.CANCELLED: "closed", OrderStatus.EXPIRED: "closed"}


class LandingPages:
    def __init__(self, daifu: Daifu, bot_username: Callable[[], str]) -> None:
        self.daifu = daifu
        self.bot_username = bot_username

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/o/{token}", self.page),
            web.get("/o/{token}/qr.png", self.png),
            web.get("/o/{token}/qr.svg", self.svg),
        ]

    async def _order(self, request: web.Request) -> OrderInfo | None:
        return await self.daifu.orders.by_token(request.match_info["token"])

    def _not_found(self, request: web.Request) -> web.Response:
        _ = gettext_for(visitor_locale(request))
        return message_page(
            request,
            _("Unknown link"),
            _("This link is not known. Check it, or ask the shop for a new one."),
            status=404,
        )

    async def page(self, request: web.Request) -> web.Response:
        order = await self._order(request)
        if order is None:
            return self._not_found(request)
        locale = visitor_locale(request)
        _ = gettext_for(locale)
        status = order_status_now(order, utcnow())
        base = f"/o/{order.token}"
        return render(
            request,
            "landing.html",
            locale=locale,
            order=order,
            shop=self.daifu.rules.shop_name,
            amount=format_money(Money(order.amount_minor, order.currency), locale),
            status=status_name(status, _),
            status_class=STATUS_CLASS.get(status, ""),
            payable=status in PAYABLE,
            deep_link=deep_link(self.bot_username(), order.token),
            qr_png=f"{base}/qr.png",
            qr_svg=f"{base}/qr.svg",
            expires=when(order.expires_at, locale),
            share=order_tags(order, self.daifu.rules, locale),
        )

    async def png(self, request: web.Request) -> web.Response:
        order = await self._order(request)
        if order is None:
            return self._not_found(request)
        return web.Response(body=qr_png(deep_link(self.bot_username(), order.token)), content_type="image/png")

    async def svg(self, request: web.Request) -> web.Response:
        order = await self._order(request)
        if order is None:
            return self._not_found(request)
        return web.Response(body=qr_svg(deep_link(self.bot_username(), order.token)), content_type="image/svg+xml")
