"""Amounts people type become integer minor units, or a clear reason (per locale: test_amount_input.py)."""

import pytest

from services.amount_input import read_amount
from services.money import AmountProblem, InvalidAmount, Money, format_money


@pytest.mark.parametrize(
    ("text", "currency", "expected"),
    [
        ("12.50", "USD", Money(1250, "USD")),
        ("12.5", "eur", Money(1250, "EUR")),
        ("500", "JPY", Money(500, "JPY")),
        ("1.234", "BHD", Money(1234, "BHD")),  # three decimals
        ("50", "XTR", Money(50, "XTR")),
    ],
)
def test_amounts_become_minor_units(text: str, currency: str, expected: Money) -> None:
    assert read_amount(text, currency, "en") == expected


@pytest.mark.parametrize(
    ("text", "currency", "problem"),
    [
        ("abc", "USD", AmountProblem.NOT_A_NUMBER),
        ("NaN", "USD", AmountProblem.NOT_A_NUMBER),
        ("0", "USD", AmountProblem.NOT_POSITIVE),
        ("-5", "USD", AmountProblem.NOT_POSITIVE),
        ("12.345", "USD", AmountProblem.TOO_MANY_DECIMALS),
        ("1.5", "JPY", AmountProblem.TOO_MANY_DECIMALS),
        ("1.5", "XTR", AmountProblem.TOO_MANY_DECIMALS),
        ("99999999", "USD", AmountProblem.TOO_LARGE),
        ("10", "ABC", AmountProblem.UNKNOWN_CURRENCY),
        ("10", "dollars", AmountProblem.UNKNOWN_CURRENCY),
    ],
)
def test_bad_amounts_are_refused_with_a_reason(text: str, currency: str, problem: AmountProblem) -> None:
    with pytest.raises(InvalidAmount) as refused:
        read_amount(text, currency, "en")
    assert refused.value.problem == problem


def test_formatting_follows_the_locale() -> None:
    assert format_money(Money(1250, "USD"), "en") == "$12.50"
    assert format_money(Money(1250, "USD"), "zh_Hans") == "US$12.50"
    assert format_money(Money(500, "JPY"), "en") == "¥500"
    assert format_money(Money(1500, "XTR"), "en") == "1,500 ⭐"
