"""A web payer's receipt (/receipt/<key>): where a provider's page sends its payer back, and a page they can keep.

While the provider's notice has not arrived the page says so and looks again every few seconds (no script: the
pages' policy allows none).
"""

from __future__ import annotations

from aiohttp import web
from babel.dates import format_date

from services.daifu import Daifu
from services.i18n import Gettext, gettext_for
from services.money import Money, format_money
from services.receipts import Receipt, ReceiptState
from web.pages import render, unknown_link_page, visitor_locale

STATUS_CLASS = {ReceiptState.PAID: "paid", ReceiptState.WAITING: "held"}


def headline(receipt: Receipt, _: Gettext) -> tuple[str, str, str]:
    """The heading, the status word and what it means for the payer."""
    told = (
        _("{requester} and the shop have been told.").format(requester=receipt.paid_for)
        if receipt.paid_for
        else _("The shop has been told.")
    )
    return {
        ReceiptState.PAID: (_("Payment accepted"), _("paid"), _("Thank you! {told}").format(told=told)),
        ReceiptState.WAITING: (
            _("Waiting for the payment"),
            _("waiting"),
            _(
                "The payment has not been confirmed yet. This page looks again every few seconds. "
                "If you did not finish paying, go back and pay."
            ),
        ),
        ReceiptState.NOT_PAID: (
            _("Not paid"),
            _("not paid"),
            _("This payment did not go through. You were not charged."),
        ),
        ReceiptState.NOT_TAKEN: (
            _("Payment not needed"),
            _("going back to you"),
            _("The order could no longer take this payment (someone paid first, or it closed): it goes back to you."),
        ),
        ReceiptState.REFUNDED: (_("Refunded"), _("refunded"), _("This payment was refunded to you.")),
    }[receipt.state]


class ReceiptPages:
    def __init__(self, daifu: Daifu) -> None:
        self.daifu = daifu

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/receipt/{key}", self.show)]

    async def show(self, request: web.Request) -> web.Response:
        receipt = await self.daifu.receipts.find(request.match_info["key"])
        if receipt is None:
            return unknown_link_page(request)
        locale = visitor_locale(request)
        _ = gettext_for(locale)
        heading, status, message = headline(receipt, _)
        payment, rules = receipt.payment, self.daifu.rules
        if receipt.request is not None:
            back_url, back_label = rules.request_url(receipt.request.token), _("See the request")
        else:
            back_url, back_label = rules.landing_url(receipt.order.token), _("See the order")
        moved = receipt.state in (ReceiptState.PAID, ReceiptState.NOT_TAKEN, ReceiptState.REFUNDED)
        response = render(
            request,
            "receipt.html",
            locale=locale,
            heading=heading,
            status=status,
            status_class=STATUS_CLASS.get(receipt.state, "closed"),
            message=message,
            waiting=receipt.state == ReceiptState.WAITING,
            order=_("order #{number} · {title}").format(number=receipt.order.id, title=receipt.order.title),
            shop=rules.shop_name,
            amount=format_money(Money(payment.amount_minor, payment.currency), locale),
            paid_for=receipt.paid_for,
            payer_name=payment.payer_name or "",
            paid_at=format_date(payment.settled_at, format="long", locale=locale) if payment.settled_at else "",
            reference=payment.provider_ref if moved else "",
            back_url=back_url,
            back_label=back_label,
        )
        # Whoever holds the address sees the receipt: it is no one else's business, nor a search engine's.
        response.headers["X-Robots-Tag"] = "noindex"
        response.headers["Cache-Control"] = "no-store"
        return response
