"""The Mini App's request screen, as the friend who opens it sees it: who asks, for what, how much is left, and
paying it (all of it, or a chip-in) through Telegram's payment sheet under the chat's hold and chip-in rules; and for
the requester, cancelling it, sharing its card again and reminding the friends who opened it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiohttp import web

from payments.base import Checkout, PaymentError
from presentation.texts import friends_reminded, invoice_for_friend, method_label, reminded_lately, status_name
from services.bot_api_port import BotApiPort, TelegramUnavailable
from services.checkout import MethodUnavailable
from services.daifu import Daifu
from services.friend_reminders import Reminded, may_remind
from services.money import Money
from services.pay_requests import RequestRefused, RequestView, telegram_holder
from services.providers import capabilities_of
from services.read_models import RequestMode, RequestStatus, utcnow
from services.why_not import WhyNot, why_request_closed
from web.miniapp_gate import (
    Caller,
    Refusal,
    choice,
    flag,
    invoice_answer,
    method_unavailable,
    money_json,
    port_of,
    provider_failed,
    read_body,
    request_refused,
    telegram_down,
    whole_number,
)

INVOICE_METHODS = ("telegram", "stars")
MAX_MINOR = 10**12  # more than any order: a bigger number is not an amount the app sends


def request_words(view: RequestView, caller: Caller) -> str:
    """The request's state as /requests says it: who is paying right now, or its state's name."""
    now = utcnow()
    status = view.status(now)
    holder = view.holder_now(now) if status == RequestStatus.OPEN else None
    if holder is not None and view.request.mode == RequestMode.SINGLE:
        return caller._("{name} is paying…").format(name=holder or caller._("a friend"))
    return status_name(status, caller._)


def request_json(view: RequestView, caller: Caller, daifu: Daifu) -> dict[str, Any]:
    request, locale, now = view.request, caller.locale, utcnow()
    share = view.share
    holding = view.holder_now(now) is not None
    return {
        "token": request.token,
        "mode": str(request.mode),
        "shares": request.shares,
        "share": None if share is None else money_json(share, locale),
        "note": request.note,
        "status": {"code": str(view.status(now)), "words": request_words(view, caller)},
        "covered": money_json(Money(request.covered_minor, view.order.currency), locale),
        "remaining": money_json(view.remaining, locale),
        "holder_name": request.holder_name if holding else None,
        "hold_until": request.hold_until.isoformat() if holding and request.hold_until else None,
        "expires_at": request.expires_at.isoformat(),
        "web_url": daifu.rules.request_url(request.token),
    }


def for_friend(checkout: Checkout, view: RequestView, part: Money, daifu: Daifu, caller: Caller) -> Checkout:
    """The invoice in the chat's words for a friend's payment: whose order it is, and what their money does."""
    if checkout.invoice is None:
        return checkout
    title, description = invoice_for_friend(view, part, daifu.rules.shop_name, caller.locale, caller._)
    return replace(checkout, invoice=replace(checkout.invoice, title=title, description=description))


class RequestScreens:
    def __init__(self, daifu: Daifu, bot_api: BotApiPort | None) -> None:
        self.daifu = daifu
        self.bot_api = bot_api

    async def _seen(self, token: str, caller: Caller) -> tuple[RequestView, RequestRefused | None]:
        """The request as this person would pay it (with what friends paying now keep), and why they cannot now."""
        views = self.daifu.request_views
        try:
            return await views.payable(token, holder=telegram_holder(caller.person.id)), None
        except RequestRefused as refusal:
            if refusal.why == WhyNot.UNKNOWN_REQUEST:
                raise request_refused(refusal, caller) from None
            return await views.view(token), refusal

    async def screen(self, request: web.Request, caller: Caller) -> web.Response:
        """GET /app/api/requests/{token}: the request as the friend who opens it sees it (its link is the key, as
        in the chat); the requester sees what they can do with it."""
        view, why_not_now = await self._seen(request.match_info["token"], caller)
        order, locale = view.order, caller.locale
        mine = view.request.requester_id == caller.person.id
        is_open = view.status(utcnow()) == RequestStatus.OPEN
        payable = why_not_now is None and view.remaining.minor > 0
        body: dict[str, Any] = {
            "request": request_json(view, caller, self.daifu),
            "order": {
                "title": order.title,
                "amount": money_json(view.total, locale),
                "shop": self.daifu.rules.shop_name,
            },
            "requester": {"name": view.requester_name},
            "is_requester": mine,
            "can": {
                "pay": payable,
                "chip_in": payable and view.request.mode == RequestMode.SPLIT,
                "cancel": mine and is_open,
                "share": mine and is_open,
                "remind": mine and is_open and may_remind(view.request, utcnow()),
            },
            "methods": self.methods_json(view, caller) if payable else [],
            "why_not": None if why_not_now is None else request_refused(why_not_now, caller).words,
            "contributions": [],
        }
        for payment in view.contributions:
            name = await self._name(payment.payer_id, payment.payer_name, payment.show_name, caller)
            minor = payment.credit_minor if payment.credit_minor is not None else order.amount_minor
            credited = Money(minor, order.currency)
            body["contributions"].append({"name": name, "amount": money_json(credited, locale)})
        return web.json_response(body)

    async def _name(self, payer_id: int | None, payer_name: str | None, show: bool, caller: Caller) -> str:
        if not show:
            return caller._("someone")
        return payer_name or await self.daifu.users.name_of(payer_id)

    def methods_json(self, view: RequestView, caller: Caller) -> list[dict[str, Any]]:
        """The ways to pay a friend's request in the app: Telegram's payment sheet (a web method is paid on the
        request's web page, web_url), each with its price for what is offered: the share, or all that is left."""
        checkouts, found = self.daifu.checkouts, []
        offered = view.total if view.request.mode == RequestMode.SINGLE else (view.share or view.remaining)
        for provider in checkouts.methods_for(view.order):
            if not capabilities_of(provider, self.daifu.providers).paid_inside_telegram:
                continue
            price = checkouts.charge_for(offered, provider)
            if price is not None:
                label = method_label(provider, price, caller.locale, caller._)
                found.append(
                    {"id": provider, "label": label, "kind": "invoice", "price": money_json(price, caller.locale)}
                )
        return found

    async def invoice(self, request: web.Request, caller: Caller) -> web.Response:
        """POST /app/api/requests/{token}/invoice {"method", "amount_minor", "show_name"}: the hold taken (single)
        or the part kept (split) as the chat's Pay tap does, and an invoice link for Telegram's payment sheet."""
        body = await read_body(request)
        method = choice(body, "method", INVOICE_METHODS)
        amount_minor = whole_number(body, "amount_minor", 1, MAX_MINOR)
        show_name = flag(body, "show_name", default=True)
        port = port_of(self.bot_api, caller)
        person, holder = caller.person, telegram_holder(caller.person.id)
        try:
            view = await self.daifu.request_views.payable(request.match_info["token"], holder=holder)
            part = view.total
            if view.request.mode == RequestMode.SPLIT:
                part = view.remaining if amount_minor is None else Money(amount_minor, view.order.currency)
                if part.minor > view.remaining.minor:  # as the chat's typed amount is checked
                    why = WhyNot.BEING_PAID if view.kept_minor else WhyNot.BAD_AMOUNT
                    raise RequestRefused(why, available=view.remaining)
            if not capabilities_of(method, self.daifu.providers).paid_inside_telegram:
                raise MethodUnavailable(method)
            checkout = await self.daifu.request_checkouts.start_checkout(
                view,
                method,
                holder=holder,
                payer_name=person.first_name,
                payer_id=person.id,
                amount=part,
                show_name=show_name,
            )
        except RequestRefused as refusal:
            raise request_refused(refusal, caller) from None
        except MethodUnavailable:
            raise method_unavailable(caller) from None
        except PaymentError:
            raise provider_failed(caller) from None
        return await invoice_answer(port, for_friend(checkout, view, part, self.daifu, caller).invoice, caller)

    async def _own_open(self, token: str, caller: Caller) -> RequestView:
        """The caller's own request: only its requester cancels, shares or reminds it."""
        try:
            view = await self.daifu.request_views.view(token)
        except RequestRefused as refusal:
            raise request_refused(refusal, caller) from None
        if view.request.requester_id != caller.person.id:
            raise request_refused(RequestRefused(WhyNot.NOT_REQUESTER), caller)
        return view

    async def cancel(self, request: web.Request, caller: Caller) -> web.Response:
        """POST /app/api/requests/{token}/cancel: the requester calls it off, as /requests does (what friends paid
        is given back; friends and cards are told)."""
        token = request.match_info["token"]
        await self._own_open(token, caller)
        try:
            await self.daifu.request_closing.cancel(token, caller.person.id)
        except RequestRefused as refusal:
            raise request_refused(refusal, caller) from None
        view = await self.daifu.request_views.view(token)
        return web.json_response({"request": request_json(view, caller, self.daifu)})

    async def remind(self, request: web.Request, caller: Caller) -> web.Response:
        """POST /app/api/requests/{token}/remind: the friends who opened the request in a chat with the bot and have
        not paid are reminded there, as /my's Remind does, at most once per REMIND_EVERY: `{"reminded", "words",
        "request"}`. A group is reminded by sharing the card there again."""
        port = port_of(self.bot_api, caller)
        token = request.match_info["token"]
        view = await self._own_open(token, caller)
        reminder = await self.daifu.friend_reminders.remind(view.request.id, caller.person.id)
        if reminder.outcome == Reminded.CLOSED:
            closed = why_request_closed(reminder.request or view.request, utcnow())
            words = caller._("This request is no longer open.")
            raise Refusal(409, words, closed.value if closed is not None else "request_closed")
        if reminder.outcome == Reminded.TOO_SOON:
            again = reminder.again_at or utcnow()
            words = reminded_lately(again, caller.locale, caller._)
            raise Refusal(409, words, "reminded_lately", again_at=again.isoformat())
        reminded = 0
        if reminder.outcome == Reminded.SENT:
            try:
                reminded = await port.remind_friends(view, reminder.offers)
            except TelegramUnavailable:
                raise telegram_down(caller) from None
        view = await self.daifu.request_views.view(token)
        return web.json_response(
            {
                "reminded": reminded,
                "words": friends_reminded(reminded, caller._),
                "request": request_json(view, caller, self.daifu),
            }
        )

    async def share(self, request: web.Request, caller: Caller) -> web.Response:
        """POST /app/api/requests/{token}/share: the request's card prepared again for the app's share sheet."""
        port = port_of(self.bot_api, caller)
        view = await self._own_open(request.match_info["token"], caller)
        closed = why_request_closed(view.request, utcnow())
        if closed is not None:
            raise request_refused(RequestRefused(closed), caller)
        prepared = await port.prepared_card(caller.person.id, view)
        return web.json_response({"prepared_message_id": prepared, "inline_query": view.request.token})
