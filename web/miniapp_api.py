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
from services.bot_api_port import BotApiPort
from services.daifu import Daifu
from services.friend_reminders import may_remind
from services.i18n import translations
from services.money import Money
from services.person_orders import PersonOrder
from services.person_throttle import PersonThrottle
from services.read_models import utcnow
from services.why_not import request_status_now, why_not_order
from web.miniapp_admin import AdminScreens
from web.miniapp_gate import Caller, MiniAppGate, bad_request, money_json
from web.miniapp_orders import OrderScreens
from web.miniapp_requests import RequestScreens

PREFIX = "/app/api"
PAGE_SIZE = 20
MAX_PAGE = 1000


def _money(minor: int, currency: str, locale: str) -> dict[str, Any]:
    return money_json(Money(minor, currency), locale)


def role_of(entry: PersonOrder, person_id: int) -> str:
    """Why the order is the person's: they asked friends to pay it, paid it for someone who asked, or bought it
    (made it, or paid or tried to pay it themselves)."""
    if entry.request is not None:
        return "asked"
    if any(charge.payer_id == person_id and charge.request_id is not None for charge in entry.charges):
        return "paid_for"
    return "bought"


def order_json(entry: PersonOrder, locale: str, person_id: int) -> dict[str, Any]:
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
        "token": order.token,
        "role": role_of(entry, person_id),
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
            "remind": asking and request is not None and may_remind(request, now),
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
        bot_api: BotApiPort | None = None,
    ) -> None:
        self.daifu = daifu
        self.gate = MiniAppGate(bot_token, max_age=max_age, throttle=throttle, users=daifu.users, clock=clock)
        self.orders = OrderScreens(daifu, bot_api)
        self.requests = RequestScreens(daifu, bot_api)
        self.admin = AdminScreens(daifu, bot_api)

    def routes(self) -> list[web.RouteDef]:
        signed = self.gate.signed
        orders, requests = f"{PREFIX}/orders/{{token}}", f"{PREFIX}/requests/{{token}}"
        return [
            web.get(f"{PREFIX}/me", signed(self.me)),
            web.get(orders, signed(self.orders.screen)),
            web.post(f"{orders}/invoice", signed(self.orders.invoice)),
            web.post(f"{orders}/web", signed(self.orders.web_checkout)),
            web.post(f"{orders}/ask", signed(self.orders.ask)),
            web.post(f"{orders}/cancel", signed(self.orders.cancel)),
            web.get(requests, signed(self.requests.screen)),
            web.post(f"{requests}/invoice", signed(self.requests.invoice)),
            web.post(f"{requests}/cancel", signed(self.requests.cancel)),
            web.post(f"{requests}/share", signed(self.requests.share)),
            web.post(f"{requests}/remind", signed(self.requests.remind)),
            web.post(f"{PREFIX}/admin/links", signed(self.admin.new_link)),
        ]

    async def me(self, request: web.Request, caller: Caller) -> web.Response:
        """The person's orders and requests, newest first, a page at a time (?page=0 the newest)."""
        person, locale = caller.person, caller.locale
        raw_page = request.query.get("page", "0")
        if not (raw_page.isascii() and raw_page.isdigit()) or int(raw_page) > MAX_PAGE:
            raise bad_request("page must be a whole number from 0")
        page = await self.daifu.person_orders.page(person.id, int(raw_page), PAGE_SIZE)
        return web.json_response(
            {
                "person": {"id": person.id, "name": person.first_name, "locale": locale},
                "orders": [order_json(entry, locale, person.id) for entry in page.orders],
                "page": page.page,
                "has_more": page.has_more,
                "is_admin": self.daifu.rules.is_admin(person.id),
            }
        )
