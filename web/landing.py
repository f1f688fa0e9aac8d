"""The web page of an order (/o/<token>): its shopper pays it here with the shop's web methods, opens it in
Telegram, or sends it to a friend to pay; and its QR code as PNG and SVG.

A phone is told of buttons only; the QR code (to open the order in Telegram on a phone) is shown on wider screens,
by the stylesheet's media query: the page never guesses the device from its user agent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from payments.base import PaymentError
from presentation.formatting import in_words
from presentation.texts import status_name, why_not  # the chat's wording, so page and chat agree
from services.checkout import MethodUnavailable
from services.daifu import Daifu
from services.i18n import Gettext, gettext_for
from services.links import deep_link, qr_png, qr_svg
from services.money import Money, format_money
from services.order_states import PAYABLE
from services.orders import OrderNotPayable
from services.read_models import OrderInfo, OrderStatus, utcnow
from services.why_not import order_status_now
from web.form_input import BadForm, read_form
from web.pages import cross_site_refusal, render, unknown_link_page, visitor_locale
from web.security import CSP_HEADER, REQUEST_PAGE_POLICY, cross_site
from web.share_cards import order_tags
from web.web_payer import Browsers, checkout_answer, method_buttons, payer, web_methods

STATUS_CLASS = {OrderStatus.PAID: "paid", OrderStatus.CANCELLED: "closed", OrderStatus.EXPIRED: "closed"}


def ask_links(order: OrderInfo, page_url: str, amount: str, shop: str, _: Gettext) -> list[tuple[str, str, str]]:
    """Ways to send the page to a friend, who can pay it there: (what, label, link)."""
    text = _("Could you pay {amount} for {title} at {shop} for me? You can pay here:").format(
        amount=amount, title=order.title, shop=shop
    )
    return [
        ("telegram", _("Send in Telegram"), "https://t.me/share/url?" + urlencode({"url": page_url, "text": text})),
        ("whatsapp", _("Send in WhatsApp"), "https://wa.me/?" + urlencode({"text": f"{text} {page_url}"})),
        ("email", _("Send by email"), f"mailto:?subject={quote(order.title)}&body={quote(f'{text} {page_url}')}"),
    ]


class LandingPages:
    def __init__(self, daifu: Daifu, bot_username: Callable[[], str], browsers: Browsers) -> None:
        self.daifu = daifu
        self.bot_username = bot_username
        self.browsers = browsers

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/o/{token}", self.page),
            web.post("/o/{token}", self.pay),
            web.get("/o/{token}/qr.png", self.png),
            web.get("/o/{token}/qr.svg", self.svg),
        ]

    async def _order(self, request: web.Request) -> OrderInfo | None:
        return await self.daifu.orders.by_token(request.match_info["token"])

    async def page(self, request: web.Request) -> web.Response:
        order = await self._order(request)
        if order is None:
            return unknown_link_page(request)
        return await self._page(request, order, self.browsers.of(request))

    async def _page(
        self, request: web.Request, order: OrderInfo, browser: str, *, http_status: int = 200, error: str = ""
    ) -> web.Response:
        locale = visitor_locale(request)
        _ = gettext_for(locale)
        status = order_status_now(order, utcnow())
        payable = status in PAYABLE
        base = f"/o/{order.token}"
        amount = format_money(Money(order.amount_minor, order.currency), locale)
        shop = self.daifu.rules.shop_name
        values: dict[str, Any] = {
            "order": order,
            "shop": shop,
            "amount": amount,
            "status": status_name(status, _),
            "status_class": STATUS_CLASS.get(status, ""),
            "payable": payable,
            "paid": status == OrderStatus.PAID,
            "error": error,
            "deep_link": deep_link(self.bot_username(), order.token),
            "qr_png": f"{base}/qr.png",
            "qr_svg": f"{base}/qr.svg",
            "expires": in_words(order.expires_at, locale),
            "share": order_tags(order, self.daifu.rules, locale),
        }
        if payable:
            values["form_token"] = await self.browsers.form_token(browser, order.token)
            values["methods"] = method_buttons(self.daifu, order, _)
            if order.payforme_allowed:
                page_url = self.daifu.rules.landing_url(order.token)
                values["ask_links"] = ask_links(order, page_url, amount, shop, _)
        response = render(request, "landing.html", http_status=http_status, locale=locale, **values)
        # The form's answer redirects to the provider's page (Stripe's, say): see REQUEST_PAGE_POLICY.
        response.headers[CSP_HEADER] = REQUEST_PAGE_POLICY
        return self.browsers.remember(response, browser, request)

    async def pay(self, request: web.Request) -> web.Response:
        """The shopper pressed a method's button: their checkout opens (the provider's page, or a code to scan)."""
        if cross_site(request, self.daifu.rules.public_base_url):
            return cross_site_refusal(request)
        order = await self._order(request)
        if order is None:
            return unknown_link_page(request)
        locale = visitor_locale(request)
        _ = gettext_for(locale)
        try:
            form = await read_form(request)
        except BadForm:
            form = None
        browser = self.browsers.known(request)
        if form is None or browser is None or not await self.browsers.form_is_ours(request, form, order.token):
            stale = _("This page was out of date, so nothing happened. Please try again.")
            return await self._page(request, order, self.browsers.of(request), http_status=403, error=stale)
        unavailable = _("This way of paying is not available for this order.")
        method = str(form.get("method", ""))
        if method not in web_methods(self.daifu, order):
            return await self._page(request, order, browser, http_status=422, error=unavailable)
        try:
            checkout = await self.daifu.checkouts.start(order.token, method, payer_id=None, holder=payer(browser))
        except OrderNotPayable as refusal:
            return await self._page(request, order, browser, http_status=409, error=why_not(refusal.why, _))
        except MethodUnavailable:
            return await self._page(request, order, browser, http_status=422, error=unavailable)
        except PaymentError:
            failed = _("The payment service did not answer. Please try again in a moment.")
            return await self._page(request, order, browser, http_status=502, error=failed)
        answer = await checkout_answer(request, self.daifu, checkout, title=order.title, locale=locale)
        return answer or await self._page(request, order, browser, http_status=422, error=unavailable)

    async def png(self, request: web.Request) -> web.Response:
        order = await self._order(request)
        if order is None:
            return unknown_link_page(request)
        return web.Response(body=qr_png(deep_link(self.bot_username(), order.token)), content_type="image/png")

    async def svg(self, request: web.Request) -> web.Response:
        order = await self._order(request)
        if order is None:
            return unknown_link_page(request)
        return web.Response(body=qr_svg(deep_link(self.bot_username(), order.token)), content_type="image/svg+xml")
