"""Small formatting every message and page uses: money of an order or payment, moments, HTML escaping."""

from __future__ import annotations

import functools
import html
from datetime import UTC, datetime

from babel.dates import format_timedelta

from services.money import format_money
from services.read_models import OrderInfo, PaymentInfo, utcnow

# How a chat shows a moment (Bot API date-time entity formatting): the weekday, the short date and the short
# time, in the reader's own time zone and language, drawn by their app.
CHAT_TIME_FORMAT = "wdt"


def order_price(order: OrderInfo, locale: str) -> str:
    return format_money(order.amount, locale)


def paid_amount(payment: PaymentInfo, locale: str) -> str:
    return format_money(payment.amount, locale)


def esc(text: str) -> str:
    return html.escape(text, quote=False)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # SQLite gives naive UTC


def in_words(moment: datetime, locale: str, now: datetime | None = None) -> str:
    """A moment relative to now, in the locale's words: "in 23 hours", "2 hours ago"."""
    delta = _aware(moment).timestamp() - _aware(now or utcnow()).timestamp()
    # Rounded to the minute beyond a minute (all the words show), so that the cache below serves every card; a
    # moment seconds away keeps its sign: a payment just made is "5 seconds ago", never "in 5 seconds".
    if abs(delta) >= 60:
        return _in_words(round(delta / 60) * 60, locale)
    return _in_words(max(int(delta), 1) if delta > 0 else min(int(delta), -1), locale)


@functools.lru_cache(maxsize=4096)
def _in_words(seconds: int, locale: str) -> str:
    return format_timedelta(seconds, threshold=1, add_direction=True, locale=locale)


def chat_time(moment: datetime, locale: str, now: datetime | None = None) -> str:
    """A moment in a chat message (HTML): each reader's app shows it in their own time zone and language (the
    Bot API's date_time entity); an app too old for it shows the relative words inside."""
    unix = int(_aware(moment).timestamp())
    return f'<tg-time unix="{unix}" format="{CHAT_TIME_FORMAT}">{esc(in_words(moment, locale, now))}</tg-time>'
