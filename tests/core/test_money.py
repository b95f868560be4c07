"""Minor units and formatting over every ISO currency (Hypothesis)."""

from __future__ import annotations

import unicodedata
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkstand.core import money

CURRENCIES = sorted(money.currency_codes())


def test_exponents_follow_iso_4217() -> None:
    assert money.exponent("JPY") == 0
    assert money.exponent("usd") == 2
    assert money.exponent("KWD") == 3
    assert money.exponent("BHD") == 3


def test_unknown_and_historic_codes_are_not_currencies() -> None:
    for code in ("XXX", "ABC", "DEM", "XAU", ""):
        assert not money.is_currency(code)
    with pytest.raises(ValueError, match="unknown currency"):
        money.exponent("DEM")


@given(currency=st.sampled_from(CURRENCIES), minor=st.integers(min_value=-(10**15), max_value=10**15))
def test_minor_to_major_and_back_is_exact(currency: str, minor: int) -> None:
    assert money.to_minor(money.to_major(minor, currency), currency) == minor


@given(currency=st.sampled_from(CURRENCIES), major=st.decimals(min_value=-(10**9), max_value=10**9, places=6))
def test_to_minor_rounds_half_even_at_the_currency_precision(currency: str, major: Decimal) -> None:
    places = money.exponent(currency)
    minor = money.to_minor(major, currency)
    exact = major.scaleb(places)
    assert abs(Decimal(minor) - exact) <= Decimal("0.5")
    if abs(Decimal(minor) - exact) == Decimal("0.5"):
        assert minor % 2 == 0


def test_half_even_examples() -> None:
    assert money.to_minor("0.125", "USD") == 12
    assert money.to_minor("0.135", "USD") == 14
    assert money.to_minor("2.5", "JPY") == 2
    assert money.to_minor("1.0005", "KWD") == 1000


@given(
    currency=st.sampled_from(CURRENCIES),
    minor=st.integers(min_value=0, max_value=10**12),
    locale=st.sampled_from(["en_US", "de_DE", "ja_JP", "ar_KW", "fr_CH"]),
)
def test_formatting_shows_exactly_the_currency_digits(currency: str, minor: int, locale: str) -> None:
    """Whatever the symbol, grouping or numerals of the locale, the digits shown are the minor amount: no digit
    lost, none added (a JPY price never grows ".00", a KWD price keeps its third decimal)."""
    text = money.format_money(minor, currency, locale)
    shown = "".join(str(unicodedata.digit(ch)) for ch in text if unicodedata.digit(ch, None) is not None)
    assert int(shown) == minor


def test_formatting_examples() -> None:
    assert money.format_money(1999, "USD") == "$19.99"
    assert money.format_money(1234, "JPY", "en_US") == "¥1,234"
    assert money.format_money(1234500, "KWD", "en_US") == "KWD1,234.500"
    assert money.format_money(123450, "EUR", "de_DE") == "1.234,50\xa0€"


@given(numerator=st.integers(min_value=-(10**12), max_value=10**12), denominator=st.integers(1, 10**6))
def test_divide_half_even_matches_decimal(numerator: int, denominator: int) -> None:
    expected = (Decimal(numerator) / Decimal(denominator)).quantize(Decimal(1), rounding="ROUND_HALF_EVEN")
    assert money.divide_half_even(numerator, denominator) == int(expected)
