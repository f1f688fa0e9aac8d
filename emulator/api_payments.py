"""Bot API payment methods: invoices, invoice links, pre-checkout answers and Star refunds."""

from __future__ import annotations

import re
import secrets
from typing import Any

from .api_common import Method, post_bot_message
from .errors import QUERY_TOO_OLD, bad_request
from .markup import inline_keyboard, validate_markup
from .params import Params
from .stars_ledger import get_star_transactions, record_refund
from .state import Invoice, Payment, World

STARS = "XTR"
# The only subscription period Telegram accepts: 30 days.
SUBSCRIPTION_PERIOD = 2_592_000
OPTION_FIELDS = (
    "provider_data",
    "photo_url",
    "photo_size",
    "photo_width",
    "photo_height",
    "need_name",
    "need_phone_number",
    "need_email",
    "need_shipping_address",
    "send_phone_number_to_provider",
    "send_email_to_provider",
    "is_flexible",
    "max_tip_amount",
    "suggested_tip_amounts",
)
# What a Stars invoice may not ask for: no tips, no shipping, no data for a provider.
NOT_FOR_STARS = tuple(name for name in OPTION_FIELDS if name.startswith(("need_", "send_", "is_", "max_", "sugg")))


def build_invoice(fields: dict[str, Any], *, for_link: bool = False) -> Invoice:
    """An Invoice from sendInvoice/createInvoiceLink parameters or an InputInvoiceMessageContent."""
    title = str(fields.get("title") or "")
    if not 1 <= len(title) <= 32:
        raise bad_request("TITLE_INVALID")
    description = str(fields.get("description") or "")
    if not 1 <= len(description) <= 255:
        raise bad_request("DESCRIPTION_INVALID")
    payload = str(fields.get("payload") or "")
    if not 1 <= len(payload.encode("utf-8")) <= 128:
        raise bad_request("INVOICE_PAYLOAD_INVALID")
    currency = str(fields.get("currency") or "")
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise bad_request("CURRENCY_INVALID")
    prices = _prices(fields.get("prices"))
    provider_token = str(fields.get("provider_token") or "")
    options = {name: fields[name] for name in OPTION_FIELDS if fields.get(name) not in (None, False, "", [])}
    if currency == STARS:
        if provider_token:
            raise bad_request("PAYMENT_PROVIDER_INVALID")
        if len(prices) != 1 or any(name in options for name in NOT_FOR_STARS):
            raise bad_request("STARS_INVOICE_INVALID")
    elif not provider_token:
        raise bad_request("PAYMENT_PROVIDER_INVALID")
    if sum(price["amount"] for price in prices) <= 0:
        raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
    period = fields.get("subscription_period")
    if period is not None and (not for_link or currency != STARS or period != SUBSCRIPTION_PERIOD):
        raise bad_request("SUBSCRIPTION_PERIOD_INVALID")
    return Invoice(
        title=title,
        description=description,
        payload=payload,
        currency=currency,
        prices=prices,
        provider_token=provider_token,
        start_parameter=str(fields.get("start_parameter") or ""),
        subscription_period=period,
        options=options,
    )


def _prices(prices: Any) -> list[dict[str, Any]]:
    if not isinstance(prices, list):
        raise bad_request("can't parse prices JSON object")
    for price in prices:
        amount = price.get("amount") if isinstance(price, dict) else None
        if not isinstance(amount, int) or isinstance(amount, bool) or not isinstance(price.get("label"), str):
            raise bad_request("can't parse prices JSON object")
    if not prices:
        raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
    return [{"label": price["label"], "amount": price["amount"]} for price in prices]


def check_buy_button(keyboard: dict[str, Any] | None) -> None:
    """An invoice's own keyboard starts with its Pay button (sendInvoice, and an inline result's invoice)."""
    if keyboard is not None:
        first_row = keyboard["inline_keyboard"][0] if keyboard["inline_keyboard"] else []
        if not first_row or not first_row[0].get("pay"):
            raise bad_request("REPLY_MARKUP_BUY_EMPTY")


async def send_invoice(w: World, p: Params) -> Any:
    chat = w.chat_for_sending(p.chat_id())
    invoice = build_invoice(p.values)
    check_buy_button(inline_keyboard(validate_markup(p.get_json("reply_markup"), http_web_apps=w.test_environment)))
    message = post_bot_message(w, chat, p, {"invoice": invoice.to_api()})
    invoice.chat_id, invoice.message_id = chat.id, message["message_id"]
    w.invoices[(chat.id, message["message_id"])] = invoice
    return message


async def create_invoice_link(w: World, p: Params) -> Any:
    invoice = build_invoice(p.values, for_link=True)
    slug = secrets.token_urlsafe(12)
    invoice.link = f"https://t.me/${slug}"
    w.invoice_links[slug] = invoice
    return invoice.link


async def answer_pre_checkout_query(w: World, p: Params) -> Any:
    query = w.queries.get(p.require_str("pre_checkout_query_id"))
    if query is None or query.kind != "pre_checkout" or query.expired or query.answer is not None:
        raise bad_request(QUERY_TOO_OLD)
    if not p.has("ok"):
        raise bad_request("ok is empty")
    ok = p.get_bool("ok")
    error_message = p.get_str("error_message")
    if not ok and not error_message:
        raise bad_request("ERROR_MESSAGE_EMPTY")
    query.answer = {"ok": ok, "error_message": None if ok else error_message}
    return True


async def refund_star_payment(w: World, p: Params) -> Any:
    user_id = p.require_int("user_id")
    payment = w.payments.get(p.require_str("telegram_payment_charge_id"))
    if payment is None or payment.user_id != user_id or payment.currency != STARS:
        raise bad_request("CHARGE_ID_INVALID")
    if payment.refunded:
        raise bad_request("CHARGE_ALREADY_REFUNDED")
    give_back_stars(w, payment)
    return True


def give_back_stars(w: World, payment: Payment, *, deliver: bool = True) -> None:
    """The Stars go back to the payer: the ledger's outgoing transaction, and a refunded_payment service message
    in the private chat with the bot (as Telegram reports a refund, whoever made it)."""
    payment.refunded = True
    refund = {
        "currency": payment.currency,
        "total_amount": payment.total_amount,
        "invoice_payload": payment.invoice_payload,
        "telegram_payment_charge_id": payment.telegram_payment_charge_id,
    }
    w.star_refunds.append({"user_id": payment.user_id, **refund})
    record_refund(w, payment)
    chat = w.chats[payment.user_id]
    stored = w.post(chat, {"refunded_payment": refund}, sender=w.users[payment.user_id])
    if deliver:
        w.deliver_message(chat, stored)


METHODS: dict[str, Method] = {
    "sendInvoice": send_invoice,
    "createInvoiceLink": create_invoice_link,
    "answerPreCheckoutQuery": answer_pre_checkout_query,
    "refundStarPayment": refund_star_payment,
    "getStarTransactions": get_star_transactions,
}
