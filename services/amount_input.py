"""Amounts as people type them ("1,500", "$5", "12.5 usd", "80 元"), read by their locale into minor units.

Babel's strict parsing decides the number: a separator in the wrong place ("1,50" in English) is refused with
the reading the person probably meant as an example, never silently read as another number. A currency
symbol, code or word next to the number must agree with the order's currency.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from babel.numbers import (
    NumberFormatError,
    format_decimal,
    get_currency_name,
    get_currency_symbol,
    get_decimal_symbol,
    get_group_symbol,
    is_currency,
    parse_decimal,
)

from services.money import (
    MAX_MAJOR_UNITS,
    STARS,
    AmountProblem,
    InvalidAmount,
    Money,
    currency_digits,
    normalise_currency,
    to_minor,
)

__all__ = ["TypedAmount", "amount_example", "named_currency", "read_amount", "read_typed"]

_MINUS = "-−－"
# Words and signs people write that Babel does not list as a symbol.
_EXTRA_MARKERS: dict[str, frozenset[str]] = {
    "CNY": frozenset({"元", "块", "塊", "圆", "rmb", "人民币", "￥"}),
    "JPY": frozenset({"円", "￥"}),
    STARS: frozenset({"⭐", "⭐️", "star", "stars", "星星"}),
}
# Currencies whose symbols a person may type although the shop does not price in them: a "€" on a USD order
# is refused as the wrong currency rather than as "not a number".
_WELL_KNOWN = ("USD", "EUR", "GBP", "CNY", "JPY", "HKD", "TWD", "KRW", "INR", "RUB", "CHF", "SGD", "AUD", "CAD")


@dataclass(frozen=True, slots=True)
class TypedAmount:
    """A positive number as typed, and the currency symbol, code or word next to it ("" when there was none)."""

    value: Decimal
    marker: str


def amount_example(currency: str, locale: str) -> str:
    """A well-formed amount in this currency as the locale writes it: "12.50", "1,500", "80"."""
    digits = currency_digits(currency) if currency else 2
    value = Decimal(1250).scaleb(-digits) if digits else Decimal(80)
    return _plain(value, digits, locale)


def _plain(value: Decimal, digits: int, locale: str) -> str:
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=locale, decimal_quantization=False)


def _split(text: str) -> tuple[str, str, str]:
    """Before the number, the number, after it: the number runs from its first to its last digit."""
    digits = [i for i, ch in enumerate(text) if ch.isdigit()]
    if not digits:
        raise InvalidAmount(AmountProblem.NOT_A_NUMBER)
    start, end = digits[0], digits[-1] + 1
    while start > 0 and text[start - 1] in ".,":  # ".5"
        start -= 1
    return text[:start], text[start:end], text[end:]


def read_typed(text: str, locale: str, currency: str = "") -> TypedAmount:
    """The number and currency marker in what a person typed; InvalidAmount, with an example, when unclear."""
    example = amount_example(currency, locale)
    before, number, after = _split(text.strip())
    before = before.strip()
    negative = bool(before) and (before[0] in _MINUS or before[-1] in _MINUS)
    before = before.strip(_MINUS + " ")
    after = after.strip()
    if before and after:
        raise InvalidAmount(AmountProblem.NOT_A_NUMBER, currency, example=example)
    allowed = {".", ",", get_decimal_symbol(locale), get_group_symbol(locale)}
    if not all(ch.isdigit() or ch in allowed for ch in number):  # "1e3", "1 500", "12/5"
        raise InvalidAmount(AmountProblem.NOT_A_NUMBER, currency, example=example)
    value = _strict_number(number, currency, locale, example)
    if negative or value <= 0:
        raise InvalidAmount(AmountProblem.NOT_POSITIVE, currency, example=example)
    if value > MAX_MAJOR_UNITS:
        raise InvalidAmount(AmountProblem.TOO_LARGE, currency, example=example)
    marker = before or after
    folded = marker.casefold()
    if marker and not (currency and folded in _markers(currency, locale)) and not _is_some_currency(folded, locale):
        raise InvalidAmount(AmountProblem.NOT_A_NUMBER, currency, example=example)  # "5 apples"
    return TypedAmount(value, marker)


def _strict_number(number: str, currency: str, locale: str, example: str) -> Decimal:
    try:
        return parse_decimal(number, locale=locale, strict=True)
    except NumberFormatError as error:
        if not error.suggestions:
            raise InvalidAmount(AmountProblem.NOT_A_NUMBER, currency, example=example) from None
    # A separator out of place: the other reading, with decimal and group swapped, is the likely meaning.
    decimal, group = get_decimal_symbol(locale), get_group_symbol(locale)
    swapped = number.translate(str.maketrans(decimal + group, group + decimal))
    try:
        meant = parse_decimal(swapped, locale=locale, strict=True)
    except NumberFormatError:
        raise InvalidAmount(AmountProblem.NOT_A_NUMBER, currency, example=example) from None
    digits = currency_digits(currency) if currency else max(0, -int(meant.as_tuple().exponent))
    shown = _plain(meant, digits, locale) if meant == meant.quantize(Decimal(1).scaleb(-digits)) else example
    raise InvalidAmount(AmountProblem.AMBIGUOUS, currency, example=shown, typed=number)


@functools.lru_cache(maxsize=512)
def _markers(currency: str, locale: str) -> frozenset[str]:
    """Everything a person may write next to a number to mean this currency, case-folded."""
    found = {currency.casefold(), *_EXTRA_MARKERS.get(currency, frozenset())}
    if currency != STARS:
        for where in {locale, "en"}:
            symbol = get_currency_symbol(currency, locale=where)
            found.add(symbol.casefold())
            narrow = symbol.strip("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
            if narrow:
                found.add(narrow)  # "$" for US$ and HK$, "¥" for CN¥ and JP¥
            for count in (1, 2):
                found.add(get_currency_name(currency, count=count, locale=where).casefold())
    return frozenset(found)


def _is_some_currency(marker: str, locale: str) -> bool:
    if len(marker) == 3 and is_currency(marker.upper()):
        return True
    return any(marker in _markers(code, locale) for code in (*_WELL_KNOWN, STARS))


def read_amount(text: str, currency: str, locale: str) -> Money:
    """What a person typed as an amount of this currency, in minor units; InvalidAmount says why not."""
    currency = normalise_currency(currency)
    typed = read_typed(text, locale, currency)
    agree(typed.marker, currency, locale)
    try:
        return to_minor(typed.value, currency)
    except InvalidAmount as error:
        raise InvalidAmount(error.problem, currency, example=amount_example(currency, locale)) from None


def agree(marker: str, currency: str, locale: str) -> None:
    """InvalidAmount unless the symbol or code typed (if any) means this currency."""
    folded = marker.casefold()
    if not folded or folded in _markers(currency, locale):
        return
    problem = AmountProblem.WRONG_CURRENCY if _is_some_currency(folded, locale) else AmountProblem.NOT_A_NUMBER
    raise InvalidAmount(problem, currency, example=amount_example(currency, locale), typed=marker)


def named_currency(marker: str, locale: str, usual: Iterable[str]) -> str | None:
    """The one currency a typed symbol or code means, the shop's usual ones first; None when unclear."""
    folded = marker.casefold()
    if not folded:
        return None
    usual_matches = [code for code in usual if folded in _markers(code, locale)]
    if len(usual_matches) == 1:
        return usual_matches[0]
    if len(folded) == 3:
        try:
            return normalise_currency(folded)
        except InvalidAmount:
            return None
    known = [code for code in (*_WELL_KNOWN, STARS) if folded in _markers(code, locale)]
    return known[0] if len(known) == 1 else None
