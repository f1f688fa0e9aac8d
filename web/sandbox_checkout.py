"""The sandbox gateway's checkout page: the payer presses Pay or Decline, the gateway sends its notice.

The notice goes over real HTTP to daifu's own notify endpoint, signed, exactly as a hosted provider would
send it; the page does not touch the books itself.
"""

from __future__ import annotations

import logging

import aiohttp
from aiohttp import web

from payments.base import ChargeOutcome
from payments.sandbox import SandboxGateway
from services.daifu import Daifu
from services.i18n import gettext_for
from services.money import format_money
from services.orders import OrderNotPayable
from services.read_models import utcnow
from services.why_not import WhyNot
from web.form_input import BadForm, read_form
from web.pages import cross_site_refusal, message_page, render, visitor_locale
from web.security import cross_site

log = logging.getLogger(__name__)


class SandboxCheckoutPages:
    def __init__(self, daifu: Daifu, gateway: SandboxGateway) -> None:
        self.daifu = daifu
        self.gateway = gateway

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/sandbox/checkout/{session}", self.show),
            web.post("/sandbox/checkout/{session}", self.decide),
        ]

    async def _closed_reason(self, request: web.Request) -> web.Response | None:
        """A page saying why this checkout cannot be paid, or None if it can."""
        _ = gettext_for(visitor_locale(request))
        session = self.gateway.open_session(request.match_info["session"])
        if session is None:
            return message_page(request, _("Invalid checkout"), _("This checkout link is not valid."), status=404)
        if session.expires_at <= utcnow():
            return message_page(request, _("Checkout expired"), _("This checkout has expired."), status=410)
        try:
            await self.daifu.orders.payable(session.order_token)
        except OrderNotPayable as refusal:
            text = {
                WhyNot.ORDER_PAID: _("This order has already been paid. You were not charged."),
                WhyNot.ORDER_REFUNDED: _("This order was paid and then refunded; it cannot be paid again."),
            }.get(refusal.why, _("This order can no longer be paid. You were not charged."))
            return message_page(request, _("Nothing to pay"), text, status=409)
        return None

    async def show(self, request: web.Request) -> web.Response:
        closed = await self._closed_reason(request)
        if closed is not None:
            return closed
        session = self.gateway.open_session(request.match_info["session"])
        assert session is not None
        locale = visitor_locale(request)
        return render(
            request,
            "sandbox_checkout.html",
            locale=locale,
            title=session.title,
            amount=format_money(session.amount, locale),
        )

    async def decide(self, request: web.Request) -> web.Response:
        if cross_site(request, self.daifu.rules.public_base_url):
            return cross_site_refusal(request)
        closed = await self._closed_reason(request)
        if closed is not None:
            return closed
        session = self.gateway.open_session(request.match_info["session"])
        assert session is not None
        _ = gettext_for(visitor_locale(request))
        try:
            form = await read_form(request)
        except BadForm:
            return message_page(request, _("Payment not confirmed"), _("That form could not be read."), status=400)
        outcome = ChargeOutcome.SUCCEEDED if form.get("decision") == "pay" else ChargeOutcome.DECLINED
        headers, body = self.gateway.signed_notice(session, outcome)
        try:
            async with (
                aiohttp.ClientSession() as client,
                client.post(self.gateway.notify_url, data=body, headers=headers) as answer,
            ):
                delivered = answer.status == 200
        except aiohttp.ClientError as error:
            log.error("sandbox notice could not be delivered: %s", error)
            delivered = False
        if not delivered:
            return message_page(
                request,
                _("Payment not confirmed"),
                _("The shop did not confirm the payment. Please try again."),
                status=502,
            )
        # Back where a hosted provider's page sends its payer: their receipt, which says what became of it.
        raise web.HTTPSeeOther(location=session.return_url)
