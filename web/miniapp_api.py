"""The Mini App's server API under /app/api/: JSON for the app's screens, the caller known only by Telegram's init data.

The person is always the init data's user, never a parameter: one person cannot name another. A call that carries
no acceptable sign-in gets 401 and `{"error": "..."}` in plain words. Besides the per-address throttle every web
route has, each person has the chat's own per-person bucket, so opening the app from many addresses gains nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from presentation.order_status import request_open, status_words
from services.daifu import Daifu
from services.i18n import resolve_locale, translations
from services.money import Money, format_money
from services.person_orders import PersonOrder
from services.person_throttle import PersonThrottle, Verdict
from services.read_models import utcnow
from services.why_not import request_status_now, why_not_order
from web.miniapp_auth import MiniAppUser, NotSignedIn, check_init_data, init_data_of
from web.rate_limit import retry_after

PREFIX = "/app/api"
PAGE_SIZE = 20
MAX_PAGE = 1000


def error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


def _money(minor: int, currency: str, locale: str) -> dict[str, Any]:
    return {"minor": minor, "currency": currency, "formatted": format_money(Money(minor, currency), locale)}


def order_json(entry: PersonOrder, locale: str) -> dict[str, Any]:
    """One order as the list screen shows it, with what the person can still do with it."""
    _ = translations(locale).gettext
    order, request, now = entry.order, entry.request, utcnow()
    asking = request_open(entry)
    asked = None
    if request is not None:
        asked = {
            "token": request.token,
            "mode": str(request.mode),
            "shares": request.shares,
            "covered": _money(request.covered_minor, order.currency, locale),
            "status": str(request_status_now(request, now)),
        }
    return {
        "number": order.id,
        "title": order.title,
        "amount": _money(order.amount_minor, order.currency, locale),
        "status": {"code": str(order.status), "words": status_words(entry, locale, _, quote=str)},
        "request": asked,
        # As /my offers them: an open request to friends is shared, reminded or cancelled; otherwise it is paid.
        "can": {
            "pay": not asking and why_not_order(order, now) is None,
            "share": asking,
            "cancel": asking,
            "remind": asking,
        },
    }


class MiniAppApi:
    def __init__(
        self,
        daifu: Daifu,
        bot_token: str,
        *,
        max_age: float,
        throttle: PersonThrottle,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.daifu = daifu
        self.bot_token = bot_token
        self.max_age = max_age
        self.throttle = throttle
        self.clock = clock

    def routes(self) -> list[web.RouteDef]:
        return [web.get(f"{PREFIX}/me", self.me)]

    def person(self, request: web.Request) -> MiniAppUser:
        init_data = init_data_of(request.headers.get("Authorization"))
        return check_init_data(init_data, self.bot_token, max_age=self.max_age, now=self.clock())

    async def me(self, request: web.Request) -> web.Response:
        """The person's orders and requests, newest first, a page at a time (?page=0 the newest)."""
        try:
            person = self.person(request)
        except NotSignedIn as refused:
            return error(401, str(refused), {"WWW-Authenticate": "tma"})
        if self.throttle.verdict(person.id) != Verdict.PASS:
            return error(429, "too many requests; try again shortly", {"Retry-After": retry_after(self.throttle.pause)})
        raw_page = request.query.get("page", "0")
        if not (raw_page.isascii() and raw_page.isdigit()) or int(raw_page) > MAX_PAGE:
            return error(400, "page must be a whole number from 0")
        page = await self.daifu.person_orders.page(person.id, int(raw_page), PAGE_SIZE)
        locale = resolve_locale(None, person.language_code)
        return web.json_response(
            {
                "person": {"id": person.id, "name": person.first_name, "locale": locale},
                "orders": [order_json(entry, locale) for entry in page.orders],
                "page": page.page,
                "has_more": page.has_more,
            }
        )
