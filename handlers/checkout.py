"""Paying in the chat: a tap on a payment method, the checkout shown to the payer (the invoice, the page to open or
the code to scan), Telegram's pre-checkout query, and the successful payment."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, MessageHandler, PreCheckoutQueryHandler, filters

from handlers.callback_data import CallbackData
from handlers.common import qr_photo, speak, unless_query_gone
from handlers.context import DaifuContext
from presentation.texts import provider_down, why_not, why_not_charged
from services.checkout import MethodUnavailable
from services.crediting import UnknownCheckout
from services.i18n import Gettext
from services.live_messages import LiveKind
from services.metrics import PRE_CHECKOUT_SECONDS
from services.orders import OrderNotPayable
from services.providers import Checkout, CheckoutKind, InvoiceSpec, PaidInTelegram, PaymentError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MethodTap(CallbackData):
    """A payment method tapped under an order card: pay:<provider>:<order token>."""

    prefix: ClassVar[str] = "pay"
    provider: str
    token: str


async def choose_method(update: Update, context: DaifuContext) -> None:
    query = update.callback_query
    tap = MethodTap.unpack(query.data) if query else None
    if query is None or tap is None or update.effective_user is None:
        return
    locale, _ = await speak(update, context)
    provider, token = tap.provider, tap.token
    try:
        checkout = await context.daifu.checkouts.start(token, provider, payer_id=update.effective_user.id)
    except OrderNotPayable as refusal:
        await query.answer(why_not(refusal.why, _), show_alert=True)
        return
    except MethodUnavailable:
        await query.answer(_("That payment method is not available for this order any more."), show_alert=True)
        return
    except PaymentError:
        log.exception("could not open a %s checkout for order %s", provider, token)
        await query.answer(provider_down(_), show_alert=True)
        return
    await query.answer()
    # Checkouts happen in the private chat, whatever chat the tap came from.
    await send_checkout(context, update.effective_user.id, checkout, locale, _)


def addressed(checkout: Checkout, title: str, description: str) -> Checkout:
    """The checkout with its invoice (if it is one) in other words: one paid for someone else says whose it is."""
    if checkout.invoice is None:
        return checkout
    return replace(checkout, invoice=replace(checkout.invoice, title=title, description=description))


def invoice_fields(invoice: InvoiceSpec) -> dict[str, Any]:
    """An invoice as sendInvoice and an inline invoice message both take it."""
    return {
        "title": invoice.title,
        "description": invoice.description,
        "payload": invoice.payload,
        "provider_token": invoice.provider_token or None,
        "currency": invoice.currency,
        "prices": [LabeledPrice(invoice.title, invoice.amount_minor)],
    }


async def send_checkout(context: DaifuContext, chat_id: int, checkout: Checkout, locale: str, _: Gettext) -> None:
    """Show the payer what to do: pay the invoice, open the page, or scan the code. The invoice and the page's
    link are remembered, to be tidied once the order is finished (handlers.tidying)."""
    if checkout.kind == CheckoutKind.INVOICE and checkout.invoice is not None:
        sent = await context.bot.send_invoice(chat_id, **invoice_fields(checkout.invoice))
        kind, text = LiveKind.INVOICE, None
    elif checkout.kind == CheckoutKind.URL and checkout.url is not None:
        text = _("Open the checkout page to pay. I will tell you here as soon as the payment arrives.")
        sent = await context.bot.send_message(
            chat_id,
            text,
            reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton(_("Open checkout page"), url=checkout.url)]]),
        )
        kind = LiveKind.CHECKOUT_LINK
    else:
        if checkout.qr_payload is not None:  # a photo without buttons: nothing to tidy
            await context.bot.send_photo(
                chat_id,
                qr_photo(checkout.qr_payload),
                caption=_("Scan this code with the payment app to pay. I will tell you here when it is paid."),
            )
        return
    await context.daifu.live_messages.remember_checkout(
        kind, checkout_ref=checkout.checkout_ref, chat_id=chat_id, message_id=sent.message_id, locale=locale, text=text
    )


async def pre_checkout(update: Update, context: DaifuContext) -> None:
    query = update.pre_checkout_query
    if query is None:
        return
    with (
        PRE_CHECKOUT_SECONDS.time(),  # Telegram gives up after 10 s: this is the figure to watch
        unless_query_gone("pre-checkout", query.id),
    ):
        # A friend paying an invoice in a group may never have written to the bot: learn their name first.
        _locale, _ = await speak(update, context)
        refusal = await context.daifu.request_checkouts.pre_checkout(
            query.invoice_payload, query.currency, query.total_amount, payer_id=query.from_user.id
        )
        if refusal is None:
            await query.answer(ok=True)
            return
        log.info("pre-checkout refused (%s) for payload %s", refusal.value, query.invoice_payload)
        await query.answer(ok=False, error_message=why_not_charged(refusal, _))


async def successful_payment(update: Update, context: DaifuContext) -> None:
    message = update.effective_message
    if message is None or message.successful_payment is None or update.effective_user is None:
        return
    paid = message.successful_payment
    await speak(update, context)  # remember the payer, who may be new to the bot
    try:
        await context.daifu.payment_intake.paid_in_telegram(
            PaidInTelegram(
                payer_id=update.effective_user.id,
                payload=paid.invoice_payload,
                currency=paid.currency,
                total_amount=paid.total_amount,
                telegram_charge_id=paid.telegram_payment_charge_id,
                provider_charge_id=paid.provider_payment_charge_id,
            )
        )
    except UnknownCheckout:
        # Money moved for an invoice daifu does not know: keep the evidence for the admins.
        log.error(
            "successful payment %s for unknown payload %r",
            paid.telegram_payment_charge_id,
            paid.invoice_payload,
        )


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [
        CallbackQueryHandler(choose_method, pattern=MethodTap.pattern()),
        PreCheckoutQueryHandler(pre_checkout),
        MessageHandler(filters.SUCCESSFUL_PAYMENT, successful_payment),
    ]
