"""Telling people what happened: receipts to payers, notes to the shop's admins, refunds and declines.

Notices come from a successful_payment handled here, or from a provider's web notice that the web server
has already verified and applied; those arrive on PTB's update queue as ProviderNotices.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import BaseHandler, TypeHandler

from handlers.common import esc, order_price, paid_amount
from handlers.context import DaifuContext
from handlers.texts import when
from services.daifu import Daifu
from services.i18n import gettext_for
from services.notices import Notice, OrderPaid, PaymentDeclined, PaymentReturned, ReturnReason
from storage.models import PaymentStatus

log = logging.getLogger(__name__)
REFUND_PREFIX = "refund"


@dataclass(frozen=True, slots=True)
class ProviderNotices:
    """Put on the update queue by the web server after it applied a provider's notice."""

    notices: tuple[Notice, ...]


async def _send(context: DaifuContext, chat_id: int, text: str, **kwargs: object) -> None:
    try:
        await context.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, **kwargs)  # type: ignore[arg-type]
    except TelegramError as error:
        # A person who blocked the bot must not stop the others from being told.
        log.warning("could not notify chat %s: %s", chat_id, error)


async def _tell_paid(context: DaifuContext, daifu: Daifu, notice: OrderPaid) -> None:
    order, payment = notice.order, notice.payment
    if payment.payer_id is not None:
        locale = await daifu.users.locale_of(payment.payer_id)
        _ = gettext_for(locale)
        receipt = [
            _("✅ Payment received. Thank you!"),
            _("Receipt for <b>{title}</b> at {shop}").format(title=esc(order.title), shop=esc(daifu.rules.shop_name)),
            _("Paid: {amount}").format(amount=paid_amount(payment, locale)),
            _("Order: {token}").format(token=order.token),
            _("Payment reference: {reference}").format(reference=esc(payment.provider_ref or "")),
        ]
        if order.paid_at:
            receipt.append(_("Time: {time}").format(time=when(order.paid_at, locale)))
        await _send(context, payment.payer_id, "\n".join(receipt))
    payer = await daifu.users.name_of(payment.payer_id)
    refundable = payment.provider in ("stars", "sandbox")
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
        markup = None
        if refundable:
            markup = InlineKeyboardMarkup(
                [[InlineKeyboardButton(_("Refund"), callback_data=f"{REFUND_PREFIX}:ask:{payment.id}")]]
            )
        await _send(context, admin_id, text, reply_markup=markup)


async def _tell_returned(context: DaifuContext, daifu: Daifu, notice: PaymentReturned) -> None:
    order, payment = notice.order, notice.payment
    if payment.payer_id is not None:
        locale = await daifu.users.locale_of(payment.payer_id)
        _ = gettext_for(locale)
        why = {
            ReturnReason.ALREADY_PAID: _("The order had already been paid by someone else."),
            ReturnReason.ORDER_CLOSED: _("The order was closed before your payment arrived."),
            ReturnReason.AMOUNT_MISMATCH: _("The amount paid did not match the order."),
            ReturnReason.SHOP_REFUND: _("The shop refunded your payment."),
        }[notice.reason]
        if notice.owed:
            then = _(
                "Your card payment of {amount} will be refunded by the shop through its payment provider; "
                "it usually reaches your card within a few business days."
            )
        else:
            then = _("Your payment of {amount} has been refunded.")
        lines = [f"<b>{esc(order.title)}</b>", why, then.format(amount=paid_amount(payment, locale))]
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
            text.format(amount=paid_amount(payment, locale), token=order.token, provider=payment.provider),
        )


async def _tell_declined(context: DaifuContext, daifu: Daifu, notice: PaymentDeclined) -> None:
    if notice.payer_id is None:
        return
    locale = await daifu.users.locale_of(notice.payer_id)
    _ = gettext_for(locale)
    text = _("Your payment for <b>{title}</b> ({amount}) was declined. You were not charged; you can try again.")
    await _send(
        context,
        notice.payer_id,
        text.format(title=esc(notice.order.title), amount=order_price(notice.order, locale)),
    )


async def deliver(context: DaifuContext, notices: list[Notice] | tuple[Notice, ...]) -> None:
    daifu = context.daifu
    for notice in notices:
        if isinstance(notice, OrderPaid):
            await _tell_paid(context, daifu, notice)
        elif isinstance(notice, PaymentReturned):
            await _tell_returned(context, daifu, notice)
        else:
            await _tell_declined(context, daifu, notice)


async def on_provider_notices(update: ProviderNotices, context: DaifuContext) -> None:
    await deliver(context, update.notices)


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [TypeHandler(ProviderNotices, on_provider_notices)]
