"""What every page a person pays on shares: the browser that pays (a random id in a cookie), the form tied to it,
the methods a payer without Telegram can use, and what a started checkout answers with (its page, or a code).

The order's page (web.landing) and a request's page (web.request_page) both pay through here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence

from aiohttp import web

from payments.base import Checkout, CheckoutKind, secrets_match
from services.app_secrets import app_secret
from services.daifu import Daifu
from services.i18n import Gettext
from services.links import qr_png
from services.money import format_money
from services.providers import capabilities_of
from services.read_models import OrderInfo
from services.tokens import looks_like_token
from web.pages import render

BROWSER_COOKIE = "daifu_browser"
# Long enough to come back to a running hold after closing the tab; no longer, as it identifies a browser.
BROWSER_COOKIE_AGE = 7 * 24 * 3600
FORM_SECRET = "request_form_secret"  # its name since the request page was the only one with a form
# A code to scan that is also a link opens the payment app on the phone that holds it (Alipay's are https).
APP_LINK_SCHEMES = ("https://", "alipays://", "weixin://")


def web_methods(daifu: Daifu, order: OrderInfo) -> list[str]:
    # A method paid inside the Telegram app (an invoice) is no use to the person on a web page, who may have no
    # Telegram: the pages offer only methods with a page or a QR code.
    return [
        name
        for name in daifu.checkouts.methods_for(order)
        if not capabilities_of(name, daifu.providers).paid_inside_telegram
    ]


def method_button(provider: str, _: Gettext) -> str:
    return {
        "sandbox": _("Pay on the sandbox page"),
        "stripe": _("Pay by card"),
        "wechatpay": _("Pay with WeChat Pay"),
        "alipay": _("Pay with Alipay"),
    }.get(provider, provider)


def method_buttons(daifu: Daifu, order: OrderInfo, _: Gettext) -> Sequence[tuple[str, str]]:
    return [(name, method_button(name, _)) for name in web_methods(daifu, order)]


def payer(browser: str) -> str:
    """Who a browser is as the holder of a request or an attempt."""
    return f"web:{browser}"


class Browsers:
    """Knows a browser by its cookie, and ties a page's form to it so that no other site can post the form."""

    def __init__(self, daifu: Daifu) -> None:
        self.daifu = daifu
        self._form_key: bytes | None = None

    @staticmethod
    def known(request: web.Request) -> str | None:
        browser = request.cookies.get(BROWSER_COOKIE, "")
        return browser if 16 <= len(browser) <= 32 and looks_like_token(browser) else None

    def of(self, request: web.Request) -> str:
        """This browser's id, or a new one (kept by remember() with the answer)."""
        return self.known(request) or secrets.token_urlsafe(16)

    async def form_token(self, browser: str, token: str) -> str:
        if self._form_key is None:
            # Kept in the database, so a page one worker rendered can be posted to another.
            self._form_key = (await app_secret(self.daifu.db, FORM_SECRET)).encode()
        return hmac.new(self._form_key, f"{browser}:{token}".encode(), hashlib.sha256).hexdigest()[:32]

    async def form_is_ours(self, request: web.Request, form: Mapping[str, object] | None, token: str) -> bool:
        """The form was rendered for this browser and this order or request: no other site made it."""
        browser = self.known(request)
        return (
            form is not None
            and browser is not None
            and secrets_match(form.get("form_token"), await self.form_token(browser, token))
        )

    def remember(self, response: web.Response, browser: str, request: web.Request) -> web.Response:
        if request.cookies.get(BROWSER_COOKIE) != browser:
            response.set_cookie(
                BROWSER_COOKIE,
                browser,
                max_age=BROWSER_COOKIE_AGE,
                path="/",  # the order's page and the request's page know the same browser
                httponly=True,
                samesite="Lax",
                secure=self.daifu.rules.public_base_url.startswith("https://"),
            )
        return response


async def checkout_answer(
    request: web.Request, daifu: Daifu, checkout: Checkout, *, title: str, locale: str
) -> web.Response | None:
    """Where a started checkout takes its payer: the provider's page (a redirect), or a page with the code to scan
    and the way to the receipt. None for an invoice, which no web page offers."""
    if checkout.kind == CheckoutKind.URL and checkout.url:
        raise web.HTTPSeeOther(location=checkout.url)
    if checkout.kind != CheckoutKind.QR or not checkout.qr_payload:
        return None
    image = base64.b64encode(qr_png(checkout.qr_payload)).decode()
    app_link = checkout.qr_payload if checkout.qr_payload.startswith(APP_LINK_SCHEMES) else None
    return render(
        request,
        "qr_checkout.html",
        locale=locale,
        title=title,
        shop=daifu.rules.shop_name,
        amount=format_money(checkout.amount, locale),
        image=f"data:image/png;base64,{image}",
        app_link=app_link,
        receipt=await daifu.receipts.url_of(checkout.checkout_ref),
    )
