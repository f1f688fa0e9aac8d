"""Amounts people type are read by their locale into minor units, or refused with the reason: never misread."""

from __future__ import annotations

import pytest

from presentation.texts import bad_amount
from services.amount_input import named_currency, read_amount
from services.i18n import gettext_for
from services.money import AmountProblem, InvalidAmount, Money

READ = [
    # (locale, typed, currency, minor units)
    ("en", "1,500", "USD", 150000),
    ("en", "1,500.25", "USD", 150025),
    ("en", "12.5", "USD", 1250),
    ("en", ".5", "USD", 50),
    ("en", "$5", "USD", 500),
    ("en", "12.5 usd", "USD", 1250),
    ("en", "€3.50", "EUR", 350),
    ("en", "¥80", "JPY", 80),
    ("en", "¥80", "CNY", 8000),
    ("en", "80 元", "CNY", 8000),
    ("en", "1,500", "XTR", 1500),
    ("en", "50 ⭐", "XTR", 50),
    ("en", "1.234", "BHD", 1234),
    ("zh_Hans", "1,500", "USD", 150000),
    ("zh_Hans", "80 元", "CNY", 8000),
    ("zh_Hans", "80元", "CNY", 8000),
    ("zh_Hans", "¥80", "CNY", 8000),
    ("zh_Hans", "￥80.5", "CNY", 8050),
    ("zh_Hans", "８０", "CNY", 8000),
    ("zh_Hans", "12.5 usd", "USD", 1250),
    ("zh_Hans", "US$ 7", "USD", 700),
    ("zh_Hans", "100 星星", "XTR", 100),
]

REFUSED = [
    # (locale, typed, currency, problem, example shown)
    ("en", "1,50", "USD", AmountProblem.AMBIGUOUS, "1.50"),
    ("en", "€3,50", "EUR", AmountProblem.AMBIGUOUS, "3.50"),
    ("en", "1.500,00", "EUR", AmountProblem.AMBIGUOUS, "1,500.00"),
    ("en", "1,5000", "USD", AmountProblem.AMBIGUOUS, "1.50"),
    ("en", "1 500", "USD", AmountProblem.NOT_A_NUMBER, "12.50"),
    ("en", "1e3", "USD", AmountProblem.NOT_A_NUMBER, "12.50"),
    ("en", "abc", "USD", AmountProblem.NOT_A_NUMBER, ""),
    ("en", "5 apples", "USD", AmountProblem.NOT_A_NUMBER, "12.50"),
    ("en", "$5 usd", "USD", AmountProblem.NOT_A_NUMBER, "12.50"),
    ("en", "-5", "USD", AmountProblem.NOT_POSITIVE, "12.50"),
    ("en", "$-5", "USD", AmountProblem.NOT_POSITIVE, "12.50"),
    ("en", "0", "USD", AmountProblem.NOT_POSITIVE, "12.50"),
    ("en", "0.00", "USD", AmountProblem.NOT_POSITIVE, "12.50"),
    ("en", "12.345", "USD", AmountProblem.TOO_MANY_DECIMALS, "12.50"),
    ("en", "1.5", "JPY", AmountProblem.TOO_MANY_DECIMALS, "80"),
    ("en", "1.5", "XTR", AmountProblem.TOO_MANY_DECIMALS, "80"),
    ("en", "99,999,999", "USD", AmountProblem.TOO_LARGE, "12.50"),
    ("en", "€5", "USD", AmountProblem.WRONG_CURRENCY, "12.50"),
    ("en", "5 EUR", "USD", AmountProblem.WRONG_CURRENCY, "12.50"),
    ("en", "¥80", "USD", AmountProblem.WRONG_CURRENCY, "12.50"),
    ("en", "5 ⭐", "USD", AmountProblem.WRONG_CURRENCY, "12.50"),
    ("zh_Hans", "1,50", "CNY", AmountProblem.AMBIGUOUS, "1.50"),
    ("zh_Hans", "80 元", "USD", AmountProblem.WRONG_CURRENCY, "12.50"),
    ("zh_Hans", "$5", "CNY", AmountProblem.WRONG_CURRENCY, "12.50"),
    ("zh_Hans", "１２.３４５", "CNY", AmountProblem.TOO_MANY_DECIMALS, "12.50"),
    ("zh_Hans", "-80", "CNY", AmountProblem.NOT_POSITIVE, "12.50"),
    ("zh_Hans", "八十", "CNY", AmountProblem.NOT_A_NUMBER, ""),
]


@pytest.mark.parametrize(("locale", "typed", "currency", "minor"), READ)
def test_amounts_are_read_by_the_locale(locale: str, typed: str, currency: str, minor: int) -> None:
    assert read_amount(typed, currency, locale) == Money(minor, currency)


@pytest.mark.parametrize(("locale", "typed", "currency", "problem", "example"), REFUSED)
def test_unclear_amounts_are_refused_with_a_reason_and_an_example(
    locale: str, typed: str, currency: str, problem: AmountProblem, example: str
) -> None:
    with pytest.raises(InvalidAmount) as refused:
        read_amount(typed, currency, locale)
    assert refused.value.problem == problem
    assert refused.value.example == example
    told = bad_amount(refused.value, gettext_for(locale), locale)
    if problem not in (AmountProblem.NOT_POSITIVE, AmountProblem.TOO_LARGE):
        assert example in told


def test_the_refusal_is_in_the_persons_language() -> None:
    with pytest.raises(InvalidAmount) as refused:
        read_amount("1,50", "CNY", "zh_Hans")
    told = bad_amount(refused.value, gettext_for("zh_Hans"), "zh_Hans")
    assert "1.50" in told and "1,50" in told and "分隔符" in told


@pytest.mark.parametrize(
    ("marker", "locale", "usual", "currency"),
    [
        ("$", "en", ("USD", "EUR", "XTR"), "USD"),
        ("usd", "en", (), "USD"),
        ("元", "zh_Hans", ("USD", "CNY"), "CNY"),
        ("€", "zh_Hans", (), "EUR"),
        ("⭐", "en", ("USD",), "XTR"),
        ("$", "en", ("USD", "HKD"), None),  # both are dollars: ask
        ("apples", "en", ("USD",), None),
        ("", "en", ("USD",), None),
    ],
)
def test_a_symbol_names_a_currency_only_when_it_is_clear(
    marker: str, locale: str, usual: tuple[str, ...], currency: str | None
) -> None:
    assert named_currency(marker, locale, usual) == currency
