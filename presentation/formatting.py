"""Small formatting every message and page uses: money of an order or payment, HTML escaping."""

from __future__ import annotations

import html

from services.money import format_money
from services.read_models import OrderInfo, PaymentInfo


def order_price(order: OrderInfo, locale: str) -> str:
    return format_money(order.amount, locale)


def paid_amount(payment: PaymentInfo, locale: str) -> str:
    return format_money(payment.amount, locale)


def esc(text: str) -> str:
    return html.escape(text, quote=False)
