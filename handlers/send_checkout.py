"""Showing a payer their checkout: the Telegram invoice, the page to open, or the code to scan."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice

from handlers.context import DaifuContext
from services.i18n import Gettext
from services.links import qr_png
from services.providers import Checkout, CheckoutKind


async def send_checkout(context: DaifuContext, chat_id: int, checkout: Checkout, _: Gettext) -> None:
    """Show the payer what to do: pay the invoice, open the page, or scan the code."""
    if checkout.kind == CheckoutKind.INVOICE and checkout.invoice is not None:
        invoice = checkout.invoice
        await context.bot.send_invoice(
            chat_id,
            title=invoice.title,
            description=invoice.description,
            payload=invoice.payload,
            provider_token=invoice.provider_token or None,
            currency=invoice.currency,
            prices=[LabeledPrice(invoice.title, invoice.amount_minor)],
        )
    elif checkout.kind == CheckoutKind.URL and checkout.url is not None:
        await context.bot.send_message(
            chat_id,
            _("Open the checkout page to pay. I will tell you here as soon as the payment arrives."),
            reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton(_("Open checkout page"), url=checkout.url)]]),
        )
    elif checkout.qr_payload is not None:
        await context.bot.send_photo(
            chat_id,
            qr_png(checkout.qr_payload),
            caption=_("Scan this code with the payment app to pay. I will tell you here when it is paid."),
        )
