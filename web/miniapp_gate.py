"""What every Mini App API route shares: the signed-in caller (from Telegram's init data only), their pace, their
language, the JSON body read with care, and refusals as `{"error": words, "code": why}` with the right status.

A route is written as `async def route(request, caller) -> web.Response` and wrapped by MiniAppGate.signed: it may
raise Refusal anywhere, and the gate answers it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from presentation.texts import provider_down, request_refusal, why_not
from services.bot_api_port import BotApiPort, TelegramUnavailable
from services.i18n import Gettext, gettext_for, resolve_locale
from services.money import Money, format_money
from services.pay_requests import RequestRefused
from services.person_throttle import PersonThrottle, Verdict
from services.providers import InvoiceSpec
from services.users import Users
from services.why_not import WhyNot
from web.json_input import BadJson, read_json
from web.miniapp_auth import MiniAppUser, NotSignedIn, check_init_data, init_data_of
from web.rate_limit import retry_after

MAX_BODY = 8 * 1024  # the largest body the app sends is a note of a few hundred characters
# How a refusal's reason reads as an HTTP status: nothing there, not yours to do, a body that does not fit; the
# rest is the state of the order or request (409: it may change, as a hold lapses).
WHY_STATUS = {
    WhyNot.UNKNOWN_ORDER: 404,
    WhyNot.UNKNOWN_REQUEST: 404,
    WhyNot.NOT_REQUESTER: 403,
    WhyNot.NOT_ALLOWED: 403,
    WhyNot.BAD_AMOUNT: 400,
}


@dataclass(frozen=True, slots=True)
class Caller:
    person: MiniAppUser
    locale: str
    _: Gettext


class Refusal(Exception):
    """An answer that is not the route's result: raised anywhere in a route, answered by the gate."""

    def __init__(self, status: int, words: str, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.status = status
        self.words = words
        self.code = code
        self.extra = extra

    def response(self, headers: dict[str, str] | None = None) -> web.Response:
        body = {"error": self.words, "code": self.code, **self.extra}
        return web.json_response(body, status=self.status, headers=headers)


def refused(why: WhyNot, caller: Caller) -> Refusal:
    return Refusal(WHY_STATUS.get(why, 409), why_not(why, caller._), why.value)


def request_refused(refusal: RequestRefused, caller: Caller) -> Refusal:
    """A request's refusal, told as the chat tells it (who holds it and for how long, or what is left)."""
    extra: dict[str, Any] = {}
    if refusal.holder_name is not None or refusal.why == WhyNot.HELD:
        extra["holder_name"] = refusal.holder_name
    if refusal.hold_until is not None:
        extra["hold_until"] = refusal.hold_until.isoformat()
        extra["minutes_left"] = max(1, round((refusal.hold_until.timestamp() - time.time()) / 60))
    if refusal.available is not None:
        extra["available"] = money_json(refusal.available, caller.locale)
    words = request_refusal(refusal, caller.locale, caller._)
    return Refusal(WHY_STATUS.get(refusal.why, 409), words, refusal.why.value, **extra)


def telegram_down(caller: Caller) -> Refusal:
    return Refusal(502, caller._("Telegram is not answering right now. Please try again in a moment."), "telegram_down")


def method_unavailable(caller: Caller) -> Refusal:
    return Refusal(409, caller._("That payment method is not available for this order any more."), "unavailable")


def provider_failed(caller: Caller) -> Refusal:
    return Refusal(502, provider_down(caller._), "provider_down")


def port_of(bot_api: BotApiPort | None, caller: Caller) -> BotApiPort:
    """The way to Telegram, asked for before anything is started that would need it."""
    if bot_api is None:  # a web side without the running bot (never in production)
        raise Refusal(503, caller._("This is not available right now."), "unavailable")
    return bot_api


async def invoice_answer(port: BotApiPort, invoice: InvoiceSpec | None, caller: Caller) -> web.Response:
    """`{"url"}`: an invoice link for Telegram's payment sheet, for a checkout's invoice (None: the method makes
    none). Its payload is the chat's invoice's, so the chat's pre-checkout and payment handlers take it."""
    if invoice is None:
        raise method_unavailable(caller)
    try:
        return web.json_response({"url": await port.invoice_link(invoice)})
    except TelegramUnavailable:
        raise telegram_down(caller) from None


def bad_request(words: str, code: str = "bad_request") -> Refusal:
    return Refusal(400, words, code)


def money_json(money: Money, locale: str) -> dict[str, Any]:
    return {"minor": money.minor, "currency": money.currency, "formatted": format_money(money, locale)}


async def read_body(request: web.Request) -> dict[str, Any]:
    """The JSON object the app posted; a Refusal for anything else (not JSON, too big, not an object)."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise bad_request("the request body is too large", "body_too_large")
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise bad_request("the request body is too large", "body_too_large")
    try:
        body = read_json(raw or b"{}")
    except BadJson as error:
        raise bad_request(str(error), "not_json") from None
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object", "not_an_object")
    return body


def choice(body: dict[str, Any], field: str, allowed: Collection[str]) -> str:
    value = body.get(field)
    if not isinstance(value, str) or value not in allowed:
        raise bad_request(f"{field} must be one of: {', '.join(sorted(allowed))}", f"bad_{field}")
    return value


def whole_number(body: dict[str, Any], field: str, low: int, high: int, *, default: int | None = None) -> int | None:
    """An integer field from low to high (JSON true is not 1, nor 2.0 two); absent or null: default."""
    value = body.get(field)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise bad_request(f"{field} must be a whole number from {low} to {high}", f"bad_{field}")
    return value


def text(body: dict[str, Any], field: str, limit: int, *, required: bool = False) -> str:
    value = body.get(field)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or len(value) > limit or (required and not value.strip()):
        raise bad_request(f"{field} must be text of at most {limit} characters", f"bad_{field}")
    return value


def flag(body: dict[str, Any], field: str, *, default: bool) -> bool:
    value = body.get(field, default)
    if not isinstance(value, bool):
        raise bad_request(f"{field} must be true or false", f"bad_{field}")
    return value


Route = Callable[[web.Request, Caller], Awaitable[web.Response]]


class MiniAppGate:
    def __init__(
        self,
        bot_token: str,
        *,
        max_age: float,
        throttle: PersonThrottle,
        users: Users,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bot_token = bot_token
        self.users = users
        self.max_age = max_age
        self.throttle = throttle
        self.clock = clock

    def person(self, request: web.Request) -> MiniAppUser:
        init_data = init_data_of(request.headers.get("Authorization"))
        return check_init_data(init_data, self.bot_token, max_age=self.max_age, now=self.clock())

    def signed(self, route: Route) -> Callable[[web.Request], Awaitable[web.Response]]:
        """The route, called only for a person Telegram signed in who keeps the chat's pace."""

        async def handler(request: web.Request) -> web.Response:
            try:
                person = self.person(request)
            except NotSignedIn as refused_sign_in:
                return Refusal(401, str(refused_sign_in), "not_signed_in").response({"WWW-Authenticate": "tma"})
            if self.throttle.verdict(person.id) != Verdict.PASS:
                pause = {"Retry-After": retry_after(self.throttle.pause)}
                return Refusal(429, "too many requests; try again shortly", "too_many_requests").response(pause)
            # Known by name as the chat knows everyone it hears from: a request asked in the app names its requester
            # on its card and in reminders, though they never wrote to the bot.
            await self.users.remember(
                person.id, first_name=person.first_name, username=person.username, language_code=person.language_code
            )
            locale = resolve_locale(None, person.language_code)
            try:
                return await route(request, Caller(person, locale, gettext_for(locale)))
            except Refusal as refusal:
                return refusal.response()

        return handler
