"""The web page of a pay-for-me request: a friend without Telegram pays it from any browser.

It shows only what the request's card in a chat shows: title, shop, amount, expiry, requester and note.
A browser is known by a random id in a cookie and holds the request as "web:<id>", the same hold a
Telegram friend takes, so a chat and a page can never both be paying one request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from presentation.formatting import in_words
from presentation.texts import bad_amount, request_refusal, status_name, why_not  # the chat's wording
from services.amount_input import read_amount
from services.checkout import MethodUnavailable
from services.daifu import Daifu
from services.i18n import Gettext, gettext_for
from services.money import AmountProblem, InvalidAmount, Money, format_money, major_units
from services.order_states import PAYABLE
from services.pay_requests import RequestRefused, RequestView
from services.read_models import OrderStatus, PaymentInfo, RequestMode, RequestStatus, utcnow
from services.why_not import WhyNot, order_status_now, why_not_request
from web.form_input import BadForm, read_form
from web.pages import cross_site_refusal, render, unknown_link_page, visitor_locale
from web.security import CSP_HEADER, REQUEST_PAGE_POLICY, cross_site
from web.share_cards import request_tags
from web.web_payer import Browsers, checkout_answer, method_buttons, payer, web_methods

NAME_MAX = 64  # what a payment row keeps of a payer's name

# A refused POST answers with the page and one of these: the payer can tell a race from a typo.
_REFUSAL_STATUS = {WhyNot.UNKNOWN_REQUEST: 404, WhyNot.BAD_AMOUNT: 422}


class BadInput(Exception):
    """What the payer typed cannot be used; the message says why, in their language."""


@dataclass(frozen=True, slots=True)
class Typed:
    """The form as the payer filled it in, shown again when it is refused."""

    name: str = ""
    amount: str | None = None


def plain_amount(money: Money) -> str:
    """An amount as a person types it into the field: "6.25", no symbol, no grouping."""
    return str(major_units(money))


def read_name(text: str, _: Gettext) -> str:
    name = " ".join(text.split())
    if not name:
        raise BadInput(_("Please enter your name."))
    if len(name) > NAME_MAX:
        raise BadInput(_("Your name can be at most {count} characters.").format(count=NAME_MAX))
    return name


def read_part(view: RequestView, text: str, locale: str, _: Gettext) -> Money:
    """A chip-in: a positive amount in the order's currency, no more than is left."""
    too_much = _("Enter an amount more than zero and at most {remaining}.").format(
        remaining=format_money(view.remaining, locale)
    )
    try:
        part = read_amount(text, view.order.currency, locale)
    except InvalidAmount as error:
        if error.problem == AmountProblem.NOT_A_NUMBER:
            raise BadInput(
                _("Enter the amount as a number, such as {example}.").format(example=plain_amount(view.remaining))
            ) from None
        if error.problem in (AmountProblem.TOO_MANY_DECIMALS, AmountProblem.AMBIGUOUS, AmountProblem.WRONG_CURRENCY):
            raise BadInput(bad_amount(error, _, locale)) from None
        raise BadInput(too_much) from None
    if part.minor > view.remaining.minor:
        raise BadInput(too_much)
    return part


def refusal_text(refusal: RequestRefused, locale: str, _: Gettext) -> str:
    if refusal.why == WhyNot.HELD:
        return held_text(refusal.holder_name, refusal.hold_until, locale, _)
    return request_refusal(refusal, locale, _)


def held_text(name: str | None, until: datetime | None, locale: str, _: Gettext) -> str:
    if until is None:
        return _("{name} is paying for this right now.").format(name=name or _("someone"))
    # The chat's words for a time ("in 8 minutes"): a page cannot know its reader's time zone without a script.
    return _("{name} is paying… try again {time}").format(name=name or _("someone"), time=in_words(until, locale))


def closed_text(view: RequestView, now: datetime, _: Gettext) -> str | None:
    """Why nobody can pay this any more, or None while it is open."""
    why = why_not_request(view.request, view.order, now)
    return None if why is None else why_not(why, _)


def status_badge(view: RequestView, holder: str, now: datetime, locale: str, _: Gettext) -> tuple[str, str]:
    """The status as a label and its CSS class."""
    status = view.status(now)
    if status != RequestStatus.OPEN:
        return status_name(status, _), "paid" if status == RequestStatus.PAID else "closed"
    order_status = order_status_now(view.order, now)
    if order_status not in PAYABLE:
        return status_name(order_status, _), "closed"
    name = view.holder_now(now)
    if view.request.mode == RequestMode.SINGLE and name is not None and view.request.holder != holder:
        return held_text(name, view.request.hold_until, locale, _), "held"
    return status_name(OrderStatus.OPEN, _), ""


def holds_it(view: RequestView, holder: str, now: datetime) -> bool:
    """This browser started paying a single request and its hold is still running."""
    return (
        view.request.mode == RequestMode.SINGLE and view.request.holder == holder and view.holder_now(now) is not None
    )


def credited_part(payment: PaymentInfo, view: RequestView) -> Money:
    # credit_minor is in the order's currency even when the charge was in Stars.
    minor = payment.credit_minor if payment.credit_minor is not None else payment.amount_minor
    return Money(minor, view.order.currency)


class RequestPages:
    def __init__(self, daifu: Daifu, browsers: Browsers) -> None:
        self.daifu = daifu
        self.browsers = browsers

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/r/{token}", self.show), web.post("/r/{token}", self.pay)]

    # -- GET --------------------------------------------------------------------------------------------

    async def show(self, request: web.Request) -> web.Response:
        browser = self.browsers.of(request)
        view = await self._view(request.match_info["token"])
        if view is None:
            return unknown_link_page(request)
        return await self._page(request, view, browser)

    async def _view(self, token: str) -> RequestView | None:
        try:
            return await self.daifu.request_views.view(token)
        except RequestRefused:
            return None

    async def _page(
        self,
        request: web.Request,
        view: RequestView,
        browser: str,
        *,
        http_status: int = 200,
        error: str | None = None,
        typed: Typed | None = None,
    ) -> web.Response:
        locale = visitor_locale(request)
        _ = gettext_for(locale)
        now = utcnow()
        holder = payer(browser)
        status, status_class = status_badge(view, holder, now, locale, _)
        closed = closed_text(view, now, _)
        payable = closed is None and status_class != "held"
        values = {
            **self._order_values(view, locale),
            **await self._split_values(view, locale, _),
            "status": status,
            "status_class": status_class,
            "closed": closed,
            "mine": holds_it(view, holder, now),
            "hold_ends": in_words(view.request.hold_until, locale) if view.request.hold_until else "",
            "thanks": await self._thanks(view, holder, locale),
            # Said already by the status or the closed notice: once is enough.
            "error": None if error in (status, closed) else error,
            "form": await self._form_values(view, browser, typed or Typed(), _) if payable else None,
            "share": request_tags(view, self.daifu.rules, locale),
        }
        response = render(request, "request.html", http_status=http_status, locale=locale, **values)
        response.headers[CSP_HEADER] = REQUEST_PAGE_POLICY
        return self.browsers.remember(response, browser, request)

    def _order_values(self, view: RequestView, locale: str) -> dict[str, Any]:
        return {
            "requester": view.requester_name,
            "title": view.order.title,
            "shop": self.daifu.rules.shop_name,
            "amount": format_money(view.total, locale),
            "note": view.request.note,
            "expires": in_words(view.request.expires_at, locale),
        }

    async def _thanks(self, view: RequestView, holder: str, locale: str) -> list[dict[str, str]]:
        """What this browser paid towards the request, each with its receipt: the page thanks its payer."""
        return [
            {
                "name": payment.payer_name or "",
                "amount": format_money(credited_part(payment, view), locale),
                "receipt": self.daifu.rules.receipt_url(key),
            }
            for payment, key in await self.daifu.receipts.keys_of_holder(view.request, holder)
        ]

    async def _split_values(self, view: RequestView, locale: str, _: Gettext) -> dict[str, Any]:
        if view.request.mode != RequestMode.SPLIT:
            return {"split": None}
        covered = Money(min(view.request.covered_minor, view.total.minor), view.order.currency)
        return {
            "split": {
                "covered": format_money(covered, locale),
                "remaining": format_money(view.remaining, locale),
                "percent": 100 * covered.minor // max(1, view.total.minor),
                "chips": [
                    (await self._chip_name(payment, _), format_money(credited_part(payment, view), locale))
                    for payment in view.contributions
                ],
            }
        }

    async def _chip_name(self, payment: PaymentInfo, _: Gettext) -> str:
        if not payment.show_name:
            return _("someone")
        if payment.payer_name:
            return payment.payer_name
        if payment.payer_id is not None:
            return await self.daifu.users.name_of(payment.payer_id)
        return _("someone")

    async def _form_values(self, view: RequestView, browser: str, typed: Typed, _: Gettext) -> dict[str, Any]:
        suggested = view.share or view.remaining
        return {
            "token": await self.browsers.form_token(browser, view.request.token),
            "name": typed.name,
            "part": (typed.amount if typed.amount is not None else plain_amount(suggested))
            if view.request.mode == RequestMode.SPLIT
            else None,
            "currency": view.order.currency,
            "methods": method_buttons(self.daifu, view.order, _),
        }

    # -- POST -------------------------------------------------------------------------------------------

    async def pay(self, request: web.Request) -> web.Response:
        if cross_site(request, self.daifu.rules.public_base_url):
            return cross_site_refusal(request)
        token = request.match_info["token"]
        view = await self._view(token)
        if view is None:
            return unknown_link_page(request)
        _ = gettext_for(visitor_locale(request))
        try:
            form = await read_form(request)
        except BadForm:
            form = None
        browser = self.browsers.known(request)
        if form is None or browser is None or not await self.browsers.form_is_ours(request, form, token):
            stale = _("This page was out of date, so nothing happened. Please try again.")
            return await self._page(request, view, self.browsers.of(request), http_status=403, error=stale)
        typed = Typed(str(form.get("name", "")), str(form["amount"]) if "amount" in form else None)
        return await self._start(request, token, browser, str(form.get("method", "")), typed)

    async def _start(self, request: web.Request, token: str, browser: str, method: str, typed: Typed) -> web.Response:
        locale = visitor_locale(request)
        _ = gettext_for(locale)
        holder = payer(browser)
        try:
            view = await self.daifu.request_views.payable(token, holder=holder)
            name, part = self._read_form(view, method, typed, locale, _)
            checkout = await self.daifu.request_checkouts.start_checkout(
                view, method, holder=holder, payer_name=name, payer_id=None, amount=part, show_name=True
            )
        except RequestRefused as refusal:
            return await self._refused(request, token, browser, refusal, typed)
        except BadInput as problem:
            return await self._page(request, view, browser, http_status=422, error=str(problem), typed=typed)
        except MethodUnavailable:
            return await self._unavailable(request, view, browser, typed)
        answer = await checkout_answer(request, self.daifu, checkout, title=view.order.title, locale=locale)
        return answer or await self._unavailable(request, view, browser, typed)  # web_methods offers no invoice

    def _read_form(
        self, view: RequestView, method: str, typed: Typed, locale: str, _: Gettext
    ) -> tuple[str, Money | None]:
        if method not in web_methods(self.daifu, view.order):
            raise MethodUnavailable(method)
        name = read_name(typed.name, _)
        if view.request.mode != RequestMode.SPLIT:
            return name, None
        return name, read_part(view, typed.amount or "", locale, _)

    async def _refused(
        self, request: web.Request, token: str, browser: str, refusal: RequestRefused, typed: Typed
    ) -> web.Response:
        view = await self._view(token)  # fresh, so the page shows who holds it now
        if view is None:
            return unknown_link_page(request)
        locale = visitor_locale(request)
        return await self._page(
            request,
            view,
            browser,
            http_status=_REFUSAL_STATUS.get(refusal.why, 409),
            error=refusal_text(refusal, locale, gettext_for(locale)),
            typed=typed,
        )

    async def _unavailable(self, request: web.Request, view: RequestView, browser: str, typed: Typed) -> web.Response:
        _ = gettext_for(visitor_locale(request))
        unavailable = _("This way of paying is not available for this request.")
        return await self._page(request, view, browser, http_status=422, error=unavailable, typed=typed)
