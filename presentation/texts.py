"""Sentences more than one handler says, in the person's language."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from babel.dates import format_datetime
from babel.numbers import get_currency_name

from presentation.formatting import chat_time, esc, in_words, order_price
from services.i18n import Gettext
from services.money import STARS, AmountProblem, InvalidAmount, Money, format_money
from services.orders import DESCRIPTION_MAX, TITLE_MAX
from services.pay_requests import RequestRefused, RequestView
from services.read_models import OrderInfo, OrderStatus, RequestStatus
from services.why_not import WhyNot


# A request's expiry is drawn on its card, its kit and its offer, again at every refresh, and Babel is slow to
# format a moment: each is formatted once per locale (docs/benchmarks.md).
@functools.lru_cache(maxsize=4096)
def when(moment: datetime, locale: str) -> str:
    return format_datetime(moment, format="medium", tzinfo=UTC, locale=locale) + " UTC"


def why_not(why: WhyNot, _: Gettext) -> str:
    """Why an order or request cannot be paid (or a step on it cannot be taken), told as someone opens or taps it.

    HELD, HOLD_SPENT and BEING_PAID are told with a name, a time or an amount: see request_refusal.
    """
    return {
        WhyNot.UNKNOWN_ORDER: _("This link is not known. Check it, or ask the shop for a new one."),
        WhyNot.ORDER_EXPIRED: _("This order has expired and can no longer be paid. Ask the shop for a new link."),
        WhyNot.ORDER_CANCELLED: _("This order was cancelled and can no longer be paid."),
        WhyNot.ORDER_PAID: _("This order has already been paid. Nothing more to do."),
        WhyNot.ORDER_REFUNDED: _("This order was paid and then refunded; it cannot be paid again."),
        WhyNot.UNKNOWN_REQUEST: _("This request is not known. Check the link, or ask your friend for a new one."),
        WhyNot.REQUEST_EXPIRED: _("This request has expired; nothing more can be paid."),
        WhyNot.REQUEST_CANCELLED: _("This request was cancelled; nothing more can be paid."),
        WhyNot.REQUEST_PAID: _("This request has already been paid. Thank you!"),
        WhyNot.REQUEST_ORDER_CLOSED: _("The order behind this request can no longer be paid."),
        WhyNot.BAD_AMOUNT: _("That amount does not fit: more than zero, and no more than what is left."),
        WhyNot.NOT_ALLOWED: _("The shop does not allow asking friends to pay for this order."),
        WhyNot.TOO_MANY_OPEN: _("You already have as many open requests as allowed. Cancel one with /requests first."),
        WhyNot.NOT_REQUESTER: _("Only the person who asked can do that."),
    }[why]


def why_not_charged(why: WhyNot, _: Gettext) -> str:
    """Why Telegram's payment was refused at its last step, the pre-checkout: the payer was not charged."""
    already_paid = _("This order is already paid; you were not charged.")
    request_closed = _("This request is no longer open; you were not charged.")
    return {
        WhyNot.UNKNOWN_ORDER: _("This invoice does not belong to any order."),
        WhyNot.ORDER_EXPIRED: _("This order has expired; you were not charged."),
        WhyNot.ORDER_CANCELLED: _("This order was cancelled; you were not charged."),
        WhyNot.ORDER_PAID: already_paid,
        WhyNot.ORDER_REFUNDED: already_paid,
        WhyNot.REQUEST_EXPIRED: request_closed,
        WhyNot.REQUEST_CANCELLED: request_closed,
        WhyNot.REQUEST_PAID: request_closed,
        WhyNot.CHANGED: _("The invoice no longer matches the order; you were not charged."),
        WhyNot.HELD: _("Someone else is paying for this right now; you were not charged. Try again later."),
        WhyNot.BEING_PAID: _(
            "Friends have paid, or are paying right now, the rest of this request; you were not charged."
        ),
    }[why]


def provider_down(_: Gettext) -> str:
    return _("The payment service is not answering right now. Nothing was charged; please try again in a minute.")


def order_line(order: OrderInfo, locale: str, _: Gettext) -> str:
    """An order as its admins read it: "order #8 · Coffee beans · $12.50" (its token only in /order)."""
    return _("order #{number} · {title} · {amount}").format(
        number=order.id, title=esc(order.title), amount=order_price(order, locale)
    )


def currency_label(code: str, locale: str, _: Gettext) -> str:
    """A currency by its name and code, "US Dollar (USD)"; Stars are not ISO 4217, so Babel has no name for them."""
    if code == STARS:
        return _("Stars (XTR)")
    return f"{get_currency_name(code, locale=locale)} ({code})"


def bad_amount(error: InvalidAmount, _: Gettext, locale: str = "en") -> str:
    """Why a typed amount was refused, with an example of one that would be read, in the person's language."""
    currency = currency_label(error.currency, locale, _) if error.currency else ""
    if error.problem == AmountProblem.NOT_A_NUMBER and error.example:
        return _("That is not an amount. Send a number such as {example}.").format(example=esc(error.example))
    if error.problem == AmountProblem.AMBIGUOUS:
        return _(
            "I cannot be sure what {typed} means: a separator is in the wrong place. Did you mean {example}? "
            "Send it again the way you mean it."
        ).format(typed=esc(error.typed), example=esc(error.example))
    if error.problem == AmountProblem.WRONG_CURRENCY:
        return _("This amount is in {currency}, not {typed}. Send it in {currency}, for example {example}.").format(
            currency=esc(currency), typed=esc(error.typed), example=esc(error.example)
        )
    if error.problem == AmountProblem.TOO_MANY_DECIMALS and error.example:
        return _("{currency} does not have that many decimal places. Send, for example, {example}.").format(
            currency=esc(currency), example=esc(error.example)
        )
    return {
        AmountProblem.NOT_A_NUMBER: _("That is not an amount. Send a number such as 12.50."),
        AmountProblem.NOT_POSITIVE: _("The amount must be more than zero."),
        AmountProblem.TOO_MANY_DECIMALS: _("{currency} does not have that many decimal places.").format(
            currency=esc(currency)
        ),
        AmountProblem.TOO_LARGE: _("That amount is too large for one order."),
        AmountProblem.UNKNOWN_CURRENCY: _("{currency} is not a currency I know. Use a code such as USD.").format(
            currency=esc(error.currency)
        ),
        AmountProblem.NOT_MONEY: _(
            "{currency} is not money anyone can pay with (a fund, a precious metal, a unit of account, a test"
            " code or a currency no longer in use). Use a currency such as USD."
        ).format(currency=esc(error.currency)),
    }[error.problem]


def status_name(status: OrderStatus | RequestStatus, _: Gettext) -> str:
    """A state in words: a request's states are named as an order's of the same name."""
    return {
        OrderStatus.OPEN: _("open"),
        OrderStatus.PENDING: _("awaiting payment"),
        OrderStatus.PAID: _("paid"),
        OrderStatus.REFUNDED: _("refunded"),
        OrderStatus.CANCELLED: _("cancelled"),
        OrderStatus.EXPIRED: _("expired"),
    }[OrderStatus(status)]


def order_card(order: OrderInfo, shop_name: str, locale: str, _: Gettext) -> str:
    lines = [
        f"<b>{esc(order.title)}</b>",
        _("Shop: {shop}").format(shop=esc(shop_name)),
        _("Amount: {amount}").format(amount=order_price(order, locale)),
    ]
    if order.description and order.description != order.title:
        lines.append(esc(order.description))
    lines.append(_("Pay by: {time}").format(time=chat_time(order.expires_at, locale)))
    return "\n".join(lines)


def method_label(provider: str, price: Money, locale: str, _: Gettext) -> str:
    labels = {
        "telegram": _("Pay by card ({amount})"),
        "stars": _("Pay with Stars ({amount})"),
        "sandbox": _("Pay on the sandbox page ({amount})"),
        "stripe": _("Pay by card on Stripe ({amount})"),
        "wechatpay": _("Pay with WeChat Pay ({amount})"),
        "alipay": _("Pay with Alipay ({amount})"),
    }
    return labels.get(provider, provider).format(amount=format_money(price, locale))


def request_refusal(refusal: RequestRefused, locale: str, _: Gettext) -> str:
    """why_not for a request, told with who holds it and until when, or with what is left."""
    if refusal.why == WhyNot.BEING_PAID:
        left = refusal.available
        if left is None or left.minor <= 0:
            return _("Friends are paying all that is left right now. If one of them does not finish, try again later.")
        return _("Friends are paying part of this right now: {amount} is left for you to chip in.").format(
            amount=format_money(left, locale)
        )
    # Told in an alert or on a page, where a date-time entity cannot be: the relative words, never a UTC time.
    if refusal.why == WhyNot.HELD:
        until = in_words(refusal.hold_until, locale) if refusal.hold_until else ""
        return _("{name} is paying for this right now. If they have not finished, you can pay {time}.").format(
            name=refusal.holder_name or _("Someone"), time=until
        )
    if refusal.why == WhyNot.HOLD_SPENT:
        until = in_words(refusal.hold_until, locale) if refusal.hold_until else ""
        return _(
            "You have kept this request for as long as one person may, so your friends can pay it now. "
            "If nobody has paid it, you can try again {time}."
        ).format(time=until)
    return why_not(refusal.why, _)


def split_lines(view: RequestView, shop: str, locale: str, _: Gettext) -> list[str]:
    """A split into a number of friends, as its card and a friend's offer open: who asks how many friends, the total
    and each one's share, then what for. Empty for one friend paying it all, or for a split without a number."""
    share = view.equal_share
    if share is None or view.request.shares is None:
        return []
    return [
        _("<b>{name}</b> asks {count} friends to split {total}: {share} each").format(
            name=esc(view.requester_name),
            count=view.request.shares,
            total=format_money(view.total, locale),
            share=format_money(share, locale),
        ),
        _("For <b>{title}</b> at {shop}").format(title=esc(view.order.title), shop=esc(shop)),
    ]


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def invoice_for_friend(view: RequestView, part: Money, shop: str, locale: str, _: Gettext) -> tuple[str, str]:
    """The title and description of an invoice a friend pays for the requester: whose order it is ("Coffee beans —
    for Alice") and what the friend's money does, rather than the order's title twice. Within Telegram's limits:
    the order's title is shortened first, so that the requester's name stays whole."""
    name, title = view.requester_name, view.order.title
    suffix = len(_("{title} — for {name}").format(title="", name=name))
    invoice_title = _fit(
        _("{title} — for {name}").format(title=_fit(title, max(8, TITLE_MAX - suffix)), name=name), TITLE_MAX
    )
    if part.minor < view.total.minor:
        said = _(
            "Your part ({part}) of the {total} that {name} asked friends to split at {shop}. The shop delivers the "
            "order to {name}."
        ).format(part=format_money(part, locale), total=format_money(view.total, locale), name=name, shop=shop)
    else:
        said = _("{name} asked you to pay for this order at {shop}. The shop delivers it to {name}.").format(
            name=name, shop=shop
        )
    described = view.order.description if view.order.description not in ("", title) else ""
    # Whose order it is first: a long description of the order is what gives way to Telegram's limit.
    return invoice_title, _fit(f"{said}\n{described}" if described else said, DESCRIPTION_MAX)


def friends_reminded(count: int, _: Gettext) -> str:
    """What reminding a request's friends did (/my's Remind, and the app's)."""
    if count:
        return _("Reminded {count} friend(s) who opened your request.").format(count=count)
    return _("There is nobody to remind: no friend who has not paid opened your request in a chat with me.")


def reminded_lately(again_at: datetime, locale: str, _: Gettext) -> str:
    return _("Your friends were reminded a short while ago. You can remind them again {time}.").format(
        time=in_words(again_at, locale)
    )


def order_not_cancellable(number: int, status: OrderStatus, _: Gettext) -> str:
    """Why an order cannot be cancelled (/cancel, and the app's Cancel), from the state it is in."""
    text = {
        OrderStatus.PAID: _("Order #{number} is paid and cannot be cancelled. /refund {number} gives the money back."),
        OrderStatus.REFUNDED: _("Order #{number} was paid and refunded; there is nothing to cancel."),
        OrderStatus.CANCELLED: _("Order #{number} is already cancelled."),
        OrderStatus.EXPIRED: _("Order #{number} has expired; there is nothing to cancel."),
    }.get(status, _("Order #{number} cannot be cancelled now."))
    return text.format(number=number)
