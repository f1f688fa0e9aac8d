"""Telling people what happened: receipts to payers, notes to the shop's admins, refunds and declines.

Notices come from a successful_payment handled here, or from a provider's web notice that the web server
has already verified and applied; those arrive on PTB's update queue as ProviderNotices.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, NetworkError, TelegramError, TimedOut
from telegram.ext import BaseHandler, TypeHandler

from handlers.context import DaifuContext
from handlers.refund_button import RefundStep, RefundTap
from handlers.request_cards import refresh_cards
from handlers.thanks import ThanksTap
from presentation.formatting import esc, order_price, paid_amount
from presentation.texts import when
from services.daifu import Daifu
from services.i18n import Gettext, gettext_for
from services.money import Money, format_money
from services.notices import (
    ChippedIn,
    Notice,
    OrderPaid,
    OrphanCharged,
    PaymentDeclined,
    PaymentReturned,
    ProviderNotices,
    RefundFailed,
    RequestClosed,
    ReturnReason,
)
from services.providers import capabilities_of
from storage.models import Order, OrphanCharge, Payment, PaymentStatus, PayRequest, RequestMode, RequestStatus

log = logging.getLogger(__name__)
# A notice whose send failed for a passing reason is tried again, soon: 0.5 s, then 1 s later.
SEND_TRIES = 3
SEND_BACKOFF_SECONDS = 0.5


async def _send(context: DaifuContext, chat_id: int, text: str, **kwargs: object) -> None:
    for attempt in range(1, SEND_TRIES + 1):
        try:
            await context.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, **kwargs)  # type: ignore[arg-type]
            return
        except TelegramError as error:
            if attempt < SEND_TRIES and _worth_another_try(error):
                await asyncio.sleep(SEND_BACKOFF_SECONDS * 2 ** (attempt - 1))
                continue
            # A person who blocked the bot must not stop the others from being told.
            log.warning("could not notify chat %s: %s", chat_id, error)
            return


def _worth_another_try(error: TelegramError) -> bool:
    """A 5xx or a broken connection: Telegram most likely sent nothing, and a receipt or a refund notice lost to a
    moment's outage is worse than one sent twice. Not a time-out (the message may well have gone out), nor a
    refusal (BadRequest is a NetworkError in PTB; Forbidden: the person blocked the bot)."""
    return isinstance(error, NetworkError) and not isinstance(error, BadRequest | TimedOut)


async def payer_display_name(daifu: Daifu, payment: Payment) -> str:
    return payment.payer_name or await daifu.users.name_of(payment.payer_id)


async def _send_receipt(context: DaifuContext, daifu: Daifu, order: Order, payment: Payment, for_name: str) -> None:
    if payment.payer_id is None:
        return  # paid on the web by someone without Telegram: the provider's page was their receipt
    locale = await daifu.users.locale_of(payment.payer_id)
    _ = gettext_for(locale)
    receipt = [
        _("✅ Payment received. Thank you!"),
        _("Receipt for <b>{title}</b> at {shop}").format(title=esc(order.title), shop=esc(daifu.rules.shop_name)),
        _("Paid: {amount}").format(amount=paid_amount(payment, locale)),
        _("Order: {token}").format(token=order.token),
        _("Payment reference: {reference}").format(reference=esc(payment.provider_ref or "")),
    ]
    if for_name and payment.credit_minor is not None and payment.credit_minor < order.amount_minor:
        receipt.insert(1, _("You chipped in for {name}. They have been told.").format(name=esc(for_name)))
    elif for_name:
        receipt.insert(1, _("You paid for {name}. They have been told.").format(name=esc(for_name)))
    if payment.settled_at:
        receipt.append(_("Time: {time}").format(time=when(payment.settled_at, locale)))
    await _send(context, payment.payer_id, "\n".join(receipt))


async def _tell_admins(context: DaifuContext, daifu: Daifu, order: Order, payment: Payment, for_name: str) -> None:
    payer = await payer_display_name(daifu, payment)
    # No Refund button where the provider cannot give money back through the bot (Telegram card payments).
    refundable = capabilities_of(payment.provider, daifu.providers).refunds
    for admin_id in daifu.rules.admin_ids:
        locale = await daifu.users.locale_of(admin_id)
        _ = gettext_for(locale)
        text = _("💰 {payer} paid {amount} for <b>{title}</b> (order {token}, via {provider}).").format(
            payer=esc(payer),
            amount=paid_amount(payment, locale),
            title=esc(order.title),
            token=order.token,
            provider=payment.provider,
        )
        if for_name:
            text += "\n" + _("Paid on behalf of {name}.").format(name=esc(for_name))
        markup = None
        if refundable:
            assert payment.id is not None
            markup = InlineKeyboardMarkup(
                [[InlineKeyboardButton(_("Refund"), callback_data=RefundTap(RefundStep.ASK, payment.id).pack())]]
            )
        await _send(context, admin_id, text, reply_markup=markup)


async def _tell_requester(
    context: DaifuContext, daifu: Daifu, request: PayRequest, order: Order, payment: Payment
) -> None:
    locale = await daifu.users.locale_of(request.requester_id)
    _ = gettext_for(locale)
    name = await payer_display_name(daifu, payment) if payment.show_name else _("A friend")
    amount = paid_amount(payment, locale)
    if payment.payer_id == request.requester_id:
        text = _("You paid your own request for <b>{title}</b> ({amount}).")
    elif request.mode == RequestMode.SPLIT:
        text = _("🎉 {name} chipped in {amount} for <b>{title}</b>: {covered} of {total} covered.")
    else:
        text = _("🎉 {name} paid for you: <b>{title}</b>, {amount}.")
    covered = request.covered_minor
    if request.mode == RequestMode.SPLIT:
        # Friends' notices may be told out of order (two workers, a retried one): the total shown is the one
        # now, so it never goes backwards from one message to the next.
        now = await daifu.requests.by_token(request.token)
        covered = max(covered, now.covered_minor if now is not None else 0)
    text = text.format(
        name=esc(name),
        amount=amount,
        title=esc(order.title),
        covered=format_money(Money(covered, order.currency), locale),
        total=format_money(Money(order.amount_minor, order.currency), locale),
    )
    if request.mode == RequestMode.SPLIT and request.status == RequestStatus.PAID:
        text += "\n" + _("Your friends have covered the whole order. 🎉")
    markup = None
    if payment.payer_id is not None and payment.payer_id != request.requester_id:
        assert payment.id is not None
        markup = InlineKeyboardMarkup(
            [[InlineKeyboardButton(_("Say thanks"), callback_data=ThanksTap(payment.id).pack())]]
        )
    await _send(context, request.requester_id, text, reply_markup=markup)


async def _tell_paid(context: DaifuContext, daifu: Daifu, notice: OrderPaid | ChippedIn) -> None:
    order, payment, request = notice.order, notice.payment, notice.request
    for_name = ""
    if request is not None and payment.payer_id != request.requester_id:
        for_name = await daifu.users.name_of(request.requester_id)
    await _send_receipt(context, daifu, order, payment, for_name)
    await _tell_admins(context, daifu, order, payment, for_name)
    if request is not None and request.id is not None:
        await _tell_requester(context, daifu, request, order, payment)
        await refresh_cards(context, request.id, closed=isinstance(notice, OrderPaid))
    assert payment.id is not None
    await daifu.settlements.mark_told(payment.id)


async def _tell_closed(context: DaifuContext, daifu: Daifu, notice: RequestClosed) -> None:
    request = notice.request
    assert request.id is not None
    await refresh_cards(context, request.id, closed=True)
    if notice.status == RequestStatus.EXPIRED:
        view = await daifu.requests.view_by_id(request.id)
        if view is not None:
            _ = gettext_for(await daifu.users.locale_of(request.requester_id))
            text = _("⌛ Your request for <b>{title}</b> expired. Nothing more will be accepted for it.")
            await _send(context, request.requester_id, text.format(title=esc(view.order.title)))


async def _tell_pending(context: DaifuContext, daifu: Daifu, notice: PaymentReturned) -> None:
    """The provider took the refund but has not finished it: the payer hears nothing until it has."""
    for admin_id in daifu.rules.admin_ids:
        locale = await daifu.users.locale_of(admin_id)
        _ = gettext_for(locale)
        text = _(
            "⏳ Refund of {amount} for order {token} is pending at {provider}. "
            "You will be told when {provider} says it is done (the payer too) or failed."
        )
        amount = format_money(notice.amount, locale)
        await _send(
            context, admin_id, text.format(amount=amount, token=notice.order.token, provider=notice.payment.provider)
        )


async def _tell_refund_failed(context: DaifuContext, daifu: Daifu, notice: RefundFailed) -> None:
    """To the admins only: the payer was never told the money was back, and it is not."""
    order, payment = notice.order, notice.payment
    for admin_id in daifu.rules.admin_ids:
        locale = await daifu.users.locale_of(admin_id)
        _ = gettext_for(locale)
        text = _(
            "❌ Refund of {amount} for order {token} failed at {provider}: {why}\n"
            "The payer was not told it was refunded. Payment #{number} can be refunded again with /refund {order}, "
            "or the money returned another way."
        ).format(
            amount=format_money(notice.amount, locale),
            token=order.token,
            provider=payment.provider,
            why=esc(notice.why),
            number=payment.id,
            order=order.id,
        )
        await _send(context, admin_id, text)
    if notice.refund_id is not None:
        await daifu.settlements.mark_refund_told(notice.refund_id)


def orphan_lines(charge: OrphanCharge, payer: str, locale: str, _: Gettext) -> list[str]:
    """What the admins are shown of money no order was waiting for: what, from whom, the ids, what became of it."""
    lines = [
        _("⚠️ {amount} arrived via {provider} for a checkout the bot does not know (payload {payload}).").format(
            amount=format_money(Money(charge.amount_minor, charge.currency), locale),
            provider=charge.provider,
            payload=f"<code>{esc(charge.payload)}</code>",
        ),
        (
            _("Telegram charge id: {reference}")
            if capabilities_of(charge.provider).paid_inside_telegram
            else _("Provider charge id: {reference}")
        ).format(reference=f"<code>{esc(charge.charge_ref)}</code>"),
    ]
    if charge.provider_charge_ref:
        lines.append(
            _("Provider charge id: {reference}").format(reference=f"<code>{esc(charge.provider_charge_ref)}</code>")
        )
    if charge.payer_id is not None:
        lines.append(_("Payer: {name} (user id {id})").format(name=esc(payer), id=charge.payer_id))
    lines.append(_("Time: {time}").format(time=when(charge.created_at, locale)))
    if charge.status == "refunded":
        lines.append(_("It was given back to the payer automatically."))
    elif charge.status == "owed":
        lines.append(_("The bot cannot refund card payments: refund it at the payment provider."))
    elif charge.status == "refund_failed":
        lines.append(
            _("Giving it back automatically failed: {why}. Refund it by hand.").format(why=esc(charge.error or ""))
        )
    elif charge.status == "refunding":
        lines.append(_("It is being given back; the provider has not finished yet."))
    else:
        lines.append(
            _(
                "It may belong to another app on the same account: look it up at {provider} "
                "and refund it there if it is not yours."
            ).format(provider=charge.provider)
        )
    return lines


async def _tell_orphan(context: DaifuContext, daifu: Daifu, notice: OrphanCharged) -> None:
    """To the admins: money that no order of daifu's was waiting for, and what became of it."""
    charge = notice.charge
    payer = await daifu.users.name_of(charge.payer_id)
    for admin_id in daifu.rules.admin_ids:
        locale = await daifu.users.locale_of(admin_id)
        await _send(context, admin_id, "\n".join(orphan_lines(charge, payer, locale, gettext_for(locale))))


async def _tell_returned(context: DaifuContext, daifu: Daifu, notice: PaymentReturned) -> None:
    if notice.pending:
        await _tell_pending(context, daifu, notice)
        return
    order, payment = notice.order, notice.payment
    if payment.payer_id is not None:
        locale = await daifu.users.locale_of(payment.payer_id)
        _ = gettext_for(locale)
        why = {
            ReturnReason.ALREADY_PAID: _("The order had already been paid by someone else."),
            ReturnReason.ORDER_CLOSED: _("The order was closed before your payment arrived."),
            ReturnReason.REQUEST_CANCELLED: _("The request was cancelled, so your chip-in is given back."),
            ReturnReason.REQUEST_EXPIRED: _(
                "The request expired before friends covered the order, so your chip-in is given back."
            ),
            ReturnReason.COVERED: _("Friends covered the order before your chip-in arrived."),
            ReturnReason.AMOUNT_MISMATCH: _("The amount paid did not match the order."),
            ReturnReason.SHOP_REFUND: _("The shop refunded your payment."),
        }[notice.reason]
        if notice.reason == ReturnReason.ALREADY_PAID and order.payer_id == payment.payer_id:
            why = _("You had already paid for this order; this second payment goes back to you.")
        whole = payment.credit_minor is None or payment.credit_minor >= order.amount_minor
        if whole and notice.reason == ReturnReason.REQUEST_CANCELLED:  # one friend paying it all, not a chip-in
            why = _("The request was cancelled before your payment arrived, so it is given back.")
        elif whole and notice.reason == ReturnReason.REQUEST_EXPIRED:
            why = _("The request expired before your payment arrived, so it is given back.")
        if notice.owed:
            then = _(
                "Your card payment of {amount} will be refunded by the shop through its payment provider; "
                "it usually reaches your card within a few business days."
            )
        else:
            then = _("Your payment of {amount} has been refunded.")
        lines = [f"<b>{esc(order.title)}</b>", why, then.format(amount=format_money(notice.amount, locale))]
        await _send(context, payment.payer_id, "\n".join(lines))
    for admin_id in daifu.rules.admin_ids:
        _ = gettext_for(await daifu.users.locale_of(admin_id))
        if payment.status == PaymentStatus.REFUND_OWED:
            text = _("⚠️ Refund owed: {amount} for order {token} must be refunded at {provider}.")
        else:
            text = _("↩️ Refunded {amount} for order {token} ({provider}).")
        locale = await daifu.users.locale_of(admin_id)
        await _send(
            context,
            admin_id,
            text.format(amount=format_money(notice.amount, locale), token=order.token, provider=payment.provider),
        )
    if notice.refund_id is not None:
        await daifu.settlements.mark_refund_told(notice.refund_id)


async def _tell_declined(context: DaifuContext, daifu: Daifu, notice: PaymentDeclined) -> None:
    if notice.payer_id is not None:
        await _tell_payer_declined(context, daifu, notice.order, notice.payer_id)
    if notice.payment_id is not None:
        await daifu.settlements.mark_decline_told(notice.payment_id)


async def _tell_payer_declined(context: DaifuContext, daifu: Daifu, order: Order, payer_id: int) -> None:
    locale = await daifu.users.locale_of(payer_id)
    _ = gettext_for(locale)
    text = _("Your payment for <b>{title}</b> ({amount}) was declined. You were not charged; you can try again.")
    await _send(context, payer_id, text.format(title=esc(order.title), amount=order_price(order, locale)))


async def deliver(context: DaifuContext, notices: list[Notice] | tuple[Notice, ...]) -> None:
    daifu = context.daifu
    for notice in notices:
        if isinstance(notice, OrderPaid | ChippedIn):
            await _tell_paid(context, daifu, notice)
        elif isinstance(notice, PaymentReturned):
            await _tell_returned(context, daifu, notice)
        elif isinstance(notice, PaymentDeclined):
            await _tell_declined(context, daifu, notice)
        elif isinstance(notice, RequestClosed):
            await _tell_closed(context, daifu, notice)
        elif isinstance(notice, RefundFailed):
            await _tell_refund_failed(context, daifu, notice)
        elif isinstance(notice, OrphanCharged):
            await _tell_orphan(context, daifu, notice)
        else:
            await refresh_cards(context, notice.request_id)


async def on_provider_notices(update: ProviderNotices, context: DaifuContext) -> None:
    await deliver(context, update.notices)


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [TypeHandler(ProviderNotices, on_provider_notices)]
