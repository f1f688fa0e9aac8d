"""/order <number or token>: one order's whole story for an admin: payments, refunds, requests, callbacks, events.

/order <charge id> shows money that arrived for a checkout daifu does not know (an orphan charge), as the admins
were first told of it.
"""

from __future__ import annotations

import json
from typing import Any

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler

from handlers.admin_common import clipped, named_order, person, reply_long
from handlers.common import admin_only, speak
from handlers.context import DaifuContext
from handlers.notices import orphan_lines
from presentation.formatting import chat_time, esc, order_price
from presentation.texts import status_name, when
from services.i18n import Gettext
from services.money import Money, format_money
from services.notices import ReturnReason
from services.order_lookup import OrderDossier
from services.providers import capabilities_of
from services.read_models import (
    CallbackInfo,
    OrderEventInfo,
    PaymentInfo,
    PaymentStatus,
    RefundInfo,
    RequestInfo,
    RequestMode,
    RequestStatus,
)


def payment_status(status: PaymentStatus, _: Gettext) -> str:
    return {
        PaymentStatus.PENDING: _("checkout open"),
        PaymentStatus.SUCCEEDED: _("succeeded"),
        PaymentStatus.DECLINED: _("declined"),
        PaymentStatus.REFUNDED: _("refunded"),
        PaymentStatus.REFUND_OWED: _("refund owed"),
    }[status]


def refund_status(status: str, _: Gettext) -> str:
    known = {
        "done": _("done"),
        "owed": _("owed: to be made at the provider"),
        "pending": _("in progress"),
        "failed": _("failed"),
    }
    return known.get(status, status)


def refund_reason(reason: str, _: Gettext) -> str:
    known: dict[str, str] = {
        ReturnReason.SHOP_REFUND: _("refunded by the shop"),
        ReturnReason.ALREADY_PAID: _("someone else had paid"),
        ReturnReason.ORDER_CLOSED: _("the order was closed"),
        ReturnReason.REQUEST_CANCELLED: _("the request was cancelled"),
        ReturnReason.REQUEST_EXPIRED: _("the request expired"),
        ReturnReason.COVERED: _("friends had covered the order"),
        ReturnReason.AMOUNT_MISMATCH: _("wrong amount"),
    }
    return known.get(reason, reason)


def header(dossier: OrderDossier, locale: str, _: Gettext) -> list[str]:
    order = dossier.order
    lines = [
        _("🧾 <b>{title}</b> · order #{number}").format(title=esc(order.title), number=order.id),
        _("Token: <code>{token}</code>").format(token=order.token),
        _("Amount: {amount} · Status: {status}").format(
            amount=order_price(order, locale), status=status_name(order.status, _)
        ),
        _("Shop: {shop}").format(shop=esc(dossier.shop_name)),
    ]
    if order.external_id:
        lines.append(_("Shop's own id: {external_id}").format(external_id=esc(order.external_id)))
    lines.append(
        _("Created: {time} by {who}").format(
            time=chat_time(order.created_at, locale), who=person(dossier.names, order.created_by, _("the shop's API"))
        )
    )
    lines.append(_("Expires: {time}").format(time=chat_time(order.expires_at, locale)))
    if order.paid_at is not None:
        lines.append(_("Paid: {time}").format(time=chat_time(order.paid_at, locale)))
    return lines


def payment_line(dossier: OrderDossier, payment: PaymentInfo, locale: str, _: Gettext) -> str:
    payer = person(dossier.names, payment.payer_id, esc(payment.payer_name or _("someone on the web page")))
    line = _("#{number} {provider} · {amount} · {status} · {payer}").format(
        number=payment.id,
        provider=payment.provider,
        amount=format_money(Money(payment.amount_minor, payment.currency), locale),
        status=payment_status(payment.status, _),
        payer=payer,
    )
    if payment.refunded_minor:
        given_back = format_money(Money(payment.refunded_minor, payment.currency), locale)
        line += " · " + _("refunded so far: {amount}").format(amount=given_back)
    if payment.request_id is not None:
        line += " · " + _("through request #{number}").format(number=payment.request_id)
    if payment.status in (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED) and not payment.credited:
        line += " · " + _("not credited (arrived when the order could not take it)")
    return "\n  ".join(["• " + line, *charge_ids(payment, _)])


def charge_ids(payment: PaymentInfo, _: Gettext) -> list[str]:
    """What finds the payment at its provider: Telegram's charge id and the card provider's for an invoice;
    the provider's own charge id (a Stripe PaymentIntent, a WeChat Pay transaction_id, an Alipay trade_no)."""
    code = "<code>{}</code>".format
    ids: list[str] = []
    # Paid inside Telegram: the payment's own reference is Telegram's charge id (refundStarPayment and Telegram's
    # support name it); a card provider behind the invoice has its own id as well.
    if payment.provider_ref and capabilities_of(payment.provider).paid_inside_telegram:
        ids.append(_("Telegram charge id: {reference}").format(reference=code(esc(payment.provider_ref))))
        if payment.provider_charge_ref:
            ids.append(_("Provider charge id: {reference}").format(reference=code(esc(payment.provider_charge_ref))))
    elif payment.provider_ref:
        ids.append(_("Provider charge id: {reference}").format(reference=code(esc(payment.provider_ref))))
    if payment.provider_checkout_id:
        ids.append(_("Provider checkout id: {reference}").format(reference=code(esc(payment.provider_checkout_id))))
    return ids


def refund_line(dossier: OrderDossier, refund: RefundInfo, locale: str, _: Gettext) -> str:
    line = "• " + _("{amount} from payment #{number} · {status} · {why} · by {who} · {time}").format(
        amount=format_money(Money(refund.amount_minor, refund.currency), locale),
        number=refund.payment_id,
        status=refund_status(refund.status, _),
        why=refund_reason(refund.reason, _),
        who=person(dossier.names, refund.actor_id, _("daifu itself")),
        time=when(refund.created_at, locale),
    )
    if refund.asked_minor is not None and refund.asked_minor != refund.amount_minor:
        asked = format_money(Money(refund.asked_minor, refund.currency), locale)
        line += " · " + _("asked for {amount}; the provider gave back what was left").format(amount=asked)
    if refund.status == "failed" and refund.error:
        line += " · " + _("why: {reason}").format(reason=clipped(refund.error))
    if refund.provider_refund_ref:
        line += "\n  " + _("Provider refund id: {reference}").format(
            reference=f"<code>{esc(refund.provider_refund_ref)}</code>"
        )
    return line


def request_line(dossier: OrderDossier, request: RequestInfo, locale: str, _: Gettext) -> str:
    line = _("#{number} {mode} · {status} · asked by {who} · until {time}").format(
        number=request.id,
        mode=_("chip-in") if request.mode == RequestMode.SPLIT else _("one friend pays"),
        status=status_name(request.status, _),
        who=person(dossier.names, request.requester_id),
        time=when(request.expires_at, locale),
    )
    if request.covered_minor:
        covered = format_money(Money(request.covered_minor, dossier.order.currency), locale)
        line += " · " + _("covered: {amount}").format(amount=covered)
    if request.holder and request.hold_until is not None and request.status == RequestStatus.OPEN:
        line += " · " + _("held by {name} until {time}").format(
            name=esc(request.holder_name or request.holder), time=when(request.hold_until, locale)
        )
    return "• " + line


def callback_line(callback: CallbackInfo, locale: str, _: Gettext) -> str:
    if callback.delivered_at is not None:
        state = _("delivered {time}").format(time=when(callback.delivered_at, locale))
    elif callback.attempts:
        state = _("failing after {attempts} attempts: {error}; next try {time}").format(
            attempts=callback.attempts,
            error=clipped(callback.last_error or ""),
            time=when(callback.next_attempt_at, locale),
        )
    else:
        state = _("waiting for its first attempt")
    return f"• {esc(callback.kind)} → {esc(callback.url)} · {state}"


def detail_text(detail: str) -> str:
    try:
        parsed = json.loads(detail)
    except ValueError:
        return clipped(detail)
    if not parsed:
        return ""
    return clipped(", ".join(f"{key}={value}" for key, value in parsed.items()) if isinstance(parsed, dict) else detail)


def render(dossier: OrderDossier, locale: str, _: Gettext) -> list[str]:
    lines = header(dossier, locale, _)
    # A checkout someone opened and left moved no money: the timeline tells of it, the payments do not list it.
    paid = [p for p in dossier.payments if p.status != PaymentStatus.PENDING]
    sections: list[tuple[str, list[str]]] = [
        (_("<b>Payments</b>"), [payment_line(dossier, p, locale, _) for p in paid]),
        (_("<b>Refunds</b>"), [refund_line(dossier, r, locale, _) for r in dossier.refunds]),
        (_("<b>Pay-for-me requests</b>"), [request_line(dossier, r, locale, _) for r in dossier.requests]),
        (_("<b>Callbacks to the shop</b>"), [callback_line(c, locale, _) for c in dossier.callbacks]),
    ]
    for title, entries in sections:
        if entries:
            lines += ["", title, *entries]
    lines += ["", _("<b>Timeline</b>")]
    timeline = [(event.created_at, event_line(dossier, event, locale, _)) for event in dossier.events]
    timeline += [
        (p.created_at, opened_line(dossier, p, locale, _))
        for p in dossier.payments
        if p.status == PaymentStatus.PENDING
    ]
    lines += [line for _moment, line in sorted(timeline, key=lambda entry: entry[0])]
    return lines


def event_line(dossier: OrderDossier, event: OrderEventInfo, locale: str, _: Gettext) -> str:
    detail = detail_text(event.detail)
    return (
        f"• {when(event.created_at, locale)} · <code>{esc(event.kind)}</code> · "
        + person(dossier.names, event.actor_id, _("daifu itself"))
        + (f" · {detail}" if detail else "")
    )


def opened_line(dossier: OrderDossier, payment: PaymentInfo, locale: str, _: Gettext) -> str:
    """A checkout opened and not paid (yet, or ever): who, how and how much."""
    payer = person(dossier.names, payment.payer_id, esc(payment.payer_name or _("someone on the web page")))
    return f"• {when(payment.created_at, locale)} · " + _(
        "{payer} opened a {provider} checkout for {amount}, not paid"
    ).format(
        payer=payer,
        provider=payment.provider,
        amount=format_money(Money(payment.amount_minor, payment.currency), locale),
    )


async def show_order(update: Update, context: DaifuContext) -> None:
    locale, _ = await speak(update, context)
    message = update.effective_message
    if message is None or not await admin_only(update, context, _):
        return
    # A charge id the bot told the admins of, for money no order was waiting for.
    orphan = await context.daifu.order_lookup.orphan_charge(context.args[0]) if context.args else None
    if orphan is not None:
        payer = await context.daifu.users.name_of(orphan.payer_id)
        await reply_long(message, orphan_lines(orphan, payer, locale, _))
        return
    order = await named_order(update, context, _, _("Usage: /order NUMBER or /order TOKEN"))
    if order is None:
        return
    dossier = await context.daifu.order_lookup.dossier(order)
    await reply_long(message, render(dossier, locale, _))


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [CommandHandler("order", show_order)]
