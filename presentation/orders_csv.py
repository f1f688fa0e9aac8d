"""The /export CSV: one row per payment attempt of each order (an order without any attempt gets one row with
the payment columns empty).

Money is given three ways: minor units (exact), the currency code, and a plain decimal in major units
("12.50", "50" for Stars) for spreadsheets.
"""

from __future__ import annotations

import csv
from collections.abc import AsyncIterable
from datetime import datetime
from typing import TextIO

from services.money import Money, major_units
from services.order_export import ExportedOrder
from services.read_models import OrderInfo, PaymentInfo

EXPORT_COLUMNS = (
    "order_id",  # daifu's number for the order (/order <id>)
    "order_token",  # the token of its checkout link
    "external_id",  # the shop's own id, for orders made through the API
    "shop",
    "title",
    "order_status",  # open, pending, paid, refunded, cancelled, expired
    "order_amount_minor",
    "order_currency",
    "order_amount",
    "created_at",  # ISO 8601, UTC
    "expires_at",
    "paid_at",
    "payment_id",
    "provider",  # sandbox, telegram, stars, ...
    "payment_status",  # pending, succeeded, declined, refunded, refund_owed
    "credited",  # "yes" when the charge counts towards the order; "no" when it had to go back
    "request_id",  # the pay-for-me request it came through; empty when the shopper paid directly
    "payer_id",  # Telegram user id; empty for someone paying on the web page
    "payer_name",  # the name a web payer gave
    "payment_amount_minor",
    "payment_currency",
    "payment_amount",
    "refunded_minor",  # given back so far, in the payment's currency
    "refunded_amount",
    "provider_ref",  # the provider's id for the charge
    "settled_at",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


async def write_orders_csv(orders: AsyncIterable[ExportedOrder], out: TextIO) -> int:
    """Write the header and a row per payment attempt of each order as it comes; returns the rows written."""
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    written = 0
    async for exported in orders:
        attempts: list[PaymentInfo | None] = [*exported.payments] or [None]
        for payment in attempts:
            writer.writerow(export_row(exported.order, exported.shop_name, payment))
            written += 1
    return written


def export_row(order: OrderInfo, shop_name: str, payment: PaymentInfo | None) -> list[object]:
    row: list[object] = [
        order.id,
        order.token,
        _cell(order.external_id),
        _cell(shop_name),
        _cell(order.title),
        str(order.status),  # a plain string when read back (the column is a String)
        order.amount_minor,
        order.currency,
        _decimal(order.amount_minor, order.currency),
        _iso(order.created_at),
        _iso(order.expires_at),
        _iso(order.paid_at),
    ]
    if payment is None:
        return row + [""] * (len(EXPORT_COLUMNS) - len(row))
    return [
        *row,
        payment.id,
        payment.provider,
        str(payment.status),
        "yes" if payment.credited else "no",
        payment.request_id if payment.request_id is not None else "",
        payment.payer_id if payment.payer_id is not None else "",
        _cell(payment.payer_name),
        payment.amount_minor,
        payment.currency,
        _decimal(payment.amount_minor, payment.currency),
        payment.refunded_minor,
        _decimal(payment.refunded_minor, payment.currency),
        payment.provider_ref or "",
        _iso(payment.settled_at),
    ]


def _cell(text: str | None) -> str:
    """Text as a spreadsheet shows it, never as a formula: a payer's name is not trusted (CSV injection)."""
    if not text:
        return ""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _decimal(minor: int, currency: str) -> str:
    return str(major_units(Money(minor, currency)))


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""
