"""Money at the edges: currencies, minor units, format for a locale. Inside, integers only.

What a person types is read by services.amount_input, by their locale.
"""

from __future__ import annotations

import functools
from decimal import Decimal
from enum import StrEnum

from babel.numbers import format_currency, format_decimal, get_currency_precision, is_currency

from payments.base import Amount as Money
from payments.currencies import STARS, is_money

__all__ = ["STARS", "AmountProblem", "InvalidAmount", "Money", "currency_digits", "format_money", "to_minor"]

# Telegram caps a single invoice near 10,000 USD; this bound only stops typos with a few zeros too many.
MAX_MAJOR_UNITS = Decimal(1_000_000)


class AmountProblem(StrEnum):
    NOT_A_NUMBER = "not_a_number"
    NOT_POSITIVE = "not_positive"
    TOO_MANY_DECIMALS = "too_many_decimals"
    TOO_LARGE = "too_large"
    UNKNOWN_CURRENCY = "unknown_currency"
    NOT_MONEY = "not_money"  # an ISO 4217 code for a fund, a metal, a unit of account or testing
    AMBIGUOUS = "ambiguous"  # a separator out of place for the locale: "1,50" in English
    WRONG_CURRENCY = "wrong_currency"  # "€5" for a USD order


class InvalidAmount(ValueError):
    def __init__(self, problem: AmountProblem, currency: str = "", *, example: str = "", typed: str = "") -> None:
        super().__init__(problem.value)
        self.problem = problem
        self.currency = currency
        self.example = example  # a well-formed amount to show the person, in their locale
        self.typed = typed  # the part of what they typed that was refused


def normalise_currency(code: str) -> str:
    """The code of a currency an order can be priced in; InvalidAmount for codes that are not money."""
    code = code.strip().upper()
    if is_money(code):
        return code
    known = len(code) == 3 and is_currency(code)
    raise InvalidAmount(AmountProblem.NOT_MONEY if known else AmountProblem.UNKNOWN_CURRENCY, code)


def currency_digits(currency: str) -> int:
    return 0 if currency == STARS else get_currency_precision(currency)


def to_minor(value: Decimal, currency: str) -> Money:
    digits = currency_digits(currency)
    scaled = value.scaleb(digits)
    if scaled != scaled.to_integral_value():
        raise InvalidAmount(AmountProblem.TOO_MANY_DECIMALS, currency)
    return Money(int(scaled), currency)


def major_units(money: Money) -> Decimal:
    return Decimal(money.minor).scaleb(-currency_digits(money.currency))


# Every card, offer and notice formats the same few amounts again, and Babel is slow at it (docs/benchmarks.md).
@functools.lru_cache(maxsize=4096)
def format_money(money: Money, locale: str) -> str:
    if money.currency == STARS:
        return f"{format_decimal(money.minor, locale=locale)} ⭐"
    return format_currency(major_units(money), money.currency, locale=locale)
