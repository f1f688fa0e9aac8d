"""The Mini App's order screen: the order as its link shows it in the chat, paying it (an invoice link for Telegram's
payment sheet, or a web checkout), and asking friends to pay it. Whoever holds an order's link may pay it or ask
friends for it, as in the chat; what the screen says of requests is the caller's own. Cancelling an unpaid order is
the shop's admins' (/cancel ORDER in the chat): a link is shared in groups, and holding it is no say over the order."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from payments.base import Checkout, PaymentError
from presentation.order_status import request_open, status_words
from presentation.texts import method_label, order_not_cancellable
from services.bot_api_port import BotApiPort
from services.checkout import MethodUnavailable
from services.daifu import Daifu
from services.money import Money
from services.order_closing import OrderNotCancellable
from services.order_states import PAYABLE
from services.orders import OrderNotPayable
from services.pay_requests import RequestRefused
from services.person_orders import PersonOrder
from services.providers import CheckoutKind, capabilities_of
from services.read_models import OrderInfo, OrderStatus, RequestMode, utcnow
from services.why_not import ORDER_CLOSED, WhyNot, order_status_now, why_not_order
from web.miniapp_gate import (
    Caller,
    Refusal,
    choice,
    invoice_answer,
    method_unavailable,
    money_json,
    port_of,
    provider_failed,
    read_body,
    refused,
    request_refused,
    text,
    whole_number,
)
from web.miniapp_requests import request_json
from web.web_payer import web_methods

INVOICE_METHODS = ("telegram", "stars")
MAX_SHARES = 20  # the chat offers 2 to 6; a bigger party splits in the app, not hundreds of friends
NOTE_MAX = 1000  # kept to 200 by the service, as in the chat; a longer body is not from the app


def not_cancellable(order: OrderInfo, status: OrderStatus, caller: Caller) -> Refusal:
    """/cancel's words for an order past cancelling, with the state's reason as its code."""
    why = ORDER_CLOSED.get(status)
    words = order_not_cancellable(order.id, status, caller._)
    return Refusal(409, words, why.value if why is not None else "unavailable")


class OrderScreens:
    def __init__(self, daifu: Daifu, bot_api: BotApiPort | None) -> None:
        self.daifu = daifu
        self.bot_api = bot_api

    async def _order(self, token: str, caller: Caller) -> OrderInfo:
        order = await self.daifu.orders.by_token(token)
        if order is None:
            raise refused(WhyNot.UNKNOWN_ORDER, caller)
        return order

    def methods_json(self, order: OrderInfo, caller: Caller) -> list[dict[str, Any]]:
        checkouts, found = self.daifu.checkouts, []
        for provider in checkouts.methods_for(order):
            price = checkouts.price_in(order, provider)
            if price is None:
                continue
            inside = capabilities_of(provider, self.daifu.providers).paid_inside_telegram
            found.append(
                {
                    "id": provider,
                    "label": method_label(provider, price, caller.locale, caller._),
                    "kind": "invoice" if inside else "web",
                    "price": money_json(price, caller.locale),
                }
            )
        return found

    async def screen(self, request: web.Request, caller: Caller) -> web.Response:
        """GET /app/api/orders/{token}: the order, how it can be paid, and the caller's own request for it."""
        order = await self._order(request.match_info["token"], caller)
        person_id = caller.person.id
        entry = await self.daifu.person_orders.one(person_id, order.id) or PersonOrder(order, None, [], {})
        methods = self.methods_json(order, caller)
        payable = why_not_order(order, utcnow()) is None and bool(methods)
        asking = request_open(entry)
        request_view = None
        if entry.request is not None:
            request_view = await self.daifu.request_views.view_by_id(entry.request.id)
        can_ask = payable and not asking and order.payforme_allowed
        cancellable = order_status_now(order, utcnow()) in PAYABLE
        return web.json_response(
            {
                "order": {
                    "token": order.token,
                    "number": order.id,
                    "title": order.title,
                    "description": order.description,
                    "shop": self.daifu.rules.shop_name,
                    "amount": money_json(Money(order.amount_minor, order.currency), caller.locale),
                    "status": {
                        "code": str(order_status_now(order, utcnow())),  # past its time: expired, if not yet marked
                        "words": status_words(entry, caller.locale, caller._, quote=str),
                    },
                    "expires_at": order.expires_at.isoformat(),
                },
                "methods": methods if payable else [],
                "request": None if request_view is None else request_json(request_view, caller, self.daifu),
                "can": {
                    "pay": payable and not asking,
                    "ask": can_ask,
                    "split": can_ask,
                    "cancel": cancellable and self.daifu.rules.is_admin(person_id),
                },
            }
        )

    async def invoice(self, request: web.Request, caller: Caller) -> web.Response:
        """POST /app/api/orders/{token}/invoice {"method"}: an invoice link for Telegram's payment sheet; its payload
        is the attempt's, as the chat's invoice has, so the chat's pre-checkout and payment handlers take it."""
        body = await read_body(request)
        method = choice(body, "method", INVOICE_METHODS)
        order = await self._order(request.match_info["token"], caller)
        port = port_of(self.bot_api, caller)
        checkout = await self._start(order, method, caller)
        return await invoice_answer(port, checkout.invoice, caller)

    async def web_checkout(self, request: web.Request, caller: Caller) -> web.Response:
        """POST /app/api/orders/{token}/web {"method"}: a web checkout (its page, or a code to scan), as the order's
        page opens one, for the person signed in."""
        body = await read_body(request)
        order = await self._order(request.match_info["token"], caller)
        methods = web_methods(self.daifu, order)
        if not methods:
            raise method_unavailable(caller)
        method = choice(body, "method", methods)
        checkout = await self._start(order, method, caller)
        answer: dict[str, Any] = {"url": checkout.url, "receipt_url": None, "qr_payload": None}
        if checkout.kind == CheckoutKind.QR and checkout.qr_payload:
            answer["qr_payload"] = checkout.qr_payload
            answer["receipt_url"] = await self.daifu.receipts.url_of(checkout.checkout_ref)
        return web.json_response(answer)

    async def cancel(self, request: web.Request, caller: Caller) -> web.Response:
        """POST /app/api/orders/{token}/cancel (ADMIN_IDS): the order closed unpaid, as /cancel ORDER closes it (its
        requests close, chip-ins go back, friends and cards are told): `{"order", "requests_closed",
        "chip_ins_returned"}`."""
        _ = caller._
        order = await self._order(request.match_info["token"], caller)
        if not self.daifu.rules.is_admin(caller.person.id):
            raise Refusal(403, _("This is for the shop's admins only."), "not_admin")
        status = order_status_now(order, utcnow())
        if status == OrderStatus.EXPIRED:  # past its time, swept by the expiry job or not: expired already
            raise not_cancellable(order, status, caller)
        try:
            closed = await self.daifu.closing.cancel(order.id, actor_id=caller.person.id)
        except OrderNotCancellable as refusal:
            raise not_cancellable(order, refusal.status, caller) from None
        order = await self._order(order.token, caller)
        words = status_words(PersonOrder(order, None, [], {}), caller.locale, _, quote=str)
        return web.json_response(
            {
                "order": {"token": order.token, "status": {"code": str(order.status), "words": words}},
                "requests_closed": closed.requests,
                "chip_ins_returned": closed.returned,
            }
        )

    async def _start(self, order: OrderInfo, method: str, caller: Caller) -> Checkout:
        try:
            return await self.daifu.checkouts.start(order.token, method, payer_id=caller.person.id)
        except OrderNotPayable as refusal:
            raise refused(refusal.why, caller) from None
        except MethodUnavailable:
            raise method_unavailable(caller) from None
        except PaymentError:
            raise provider_failed(caller) from None

    async def ask(self, request: web.Request, caller: Caller) -> web.Response:
        """POST /app/api/orders/{token}/ask {"mode", "shares", "note"}: the chat's request, and its card prepared
        for the app's share sheet."""
        body = await read_body(request)
        mode = RequestMode.SPLIT if choice(body, "mode", ("single", "split")) == "split" else RequestMode.SINGLE
        shares = whole_number(body, "shares", 2, MAX_SHARES) if mode == RequestMode.SPLIT else None
        note = text(body, "note", NOTE_MAX)
        token = request.match_info["token"]
        port = port_of(self.bot_api, caller)
        try:
            view = await self.daifu.asking.ask(token, caller.person.id, mode=mode, shares=shares, note=note)
        except OrderNotPayable as refusal:
            raise refused(refusal.why, caller) from None
        except RequestRefused as refusal:
            raise request_refused(refusal, caller) from None
        prepared = await port.prepared_card(caller.person.id, view)
        return web.json_response(
            {
                "request": request_json(view, caller, self.daifu),
                "prepared_message_id": prepared,
                "inline_query": view.request.token,
            },
            status=201,
        )
