"""Small formatting every message and page uses: money of an order or payment, HTML escaping."""

from __future__ import annotations

import html

from services.money import Money, format_money
from storage.models import Order, Payment


def order_price(order: Order, locale: str) -> str:
    return format_money(Money(order.amount_minor, order.currency), locale)


def paid_amount(payment: Payment, locale: str) -> str:
    return format_money(Money(payment.amount_minor, payment.currency), locale)


def esc(text: str) -> str:
    return html.escape(text, quote=False)
