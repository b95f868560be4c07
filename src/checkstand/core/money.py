"""Money in integer minor units, with each currency's exponent from Babel's ISO 4217 / CLDR data.

No float ever touches an amount: conversions go through :class:`~decimal.Decimal` and round explicitly.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache
from typing import Final

from babel.core import get_global
from babel.numbers import format_currency, get_currency_precision


@cache
def currency_codes() -> frozenset[str]:
    """Codes that are legal tender somewhere today (CLDR also lists historic, metal and testing codes)."""
    return frozenset(
        code
        for entries in get_global("territory_currencies").values()
        for (code, _start, end, tender) in entries
        if tender and end is None
    )


def is_currency(code: str) -> bool:
    return code.upper() in currency_codes()


def exponent(currency: str) -> int:
    """Digits of the currency's minor unit: JPY 0, USD 2, KWD 3."""
    code = currency.upper()
    if code not in currency_codes():
        raise ValueError(f"unknown currency {currency!r}")
    return int(get_currency_precision(code))


# Every amount Checkstand takes (a unit amount, a line, a total, an amount off) has at most 8 digits in the major
# unit, as Stripe caps a charge: 99,999,999.99 USD, 99,999,999 JPY, 99,999,999.999 KWD. Sums of a session's lines
# are checked against the same cap before they are stored, so no amount comes near a BIGINT's range.
MAX_MAJOR_DIGITS: Final = 8


def max_amount_atom(currency: str) -> int:
    """The largest amount in ``currency``, in minor units (9,999,999,999 for USD)."""
    return int(10 ** (MAX_MAJOR_DIGITS + exponent(currency))) - 1


def amount_limit(currency: str) -> str:
    """The cap as an error message says it: ``at most 9999999999 ($99,999,999.99)``."""
    limit = max_amount_atom(currency)
    return f"at most {limit} ({format_money(limit, currency)})"


def to_minor(amount: Decimal | str | int, currency: str) -> int:
    """A major-unit amount in minor units, rounded half-even at the currency's precision."""
    places = exponent(currency)
    value = Decimal(amount).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    return int(value.scaleb(places))


def to_major(minor: int, currency: str) -> Decimal:
    """Minor units as an exact decimal in the major unit (1999 USD -> Decimal('19.99'))."""
    return Decimal(minor).scaleb(-exponent(currency))


def format_money(minor: int, currency: str, locale: str = "en_US") -> str:
    """The amount as a customer in ``locale`` reads it ("$19.99", "￥1,234", "1.234,50 €")."""
    return str(format_currency(to_major(minor, currency), currency.upper(), locale=locale))


def divide_half_even(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half-even, in integers only (percentages, proration)."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient


# The cap in the currency with the most decimals: the bound a request is held to before its currency is known.
MAX_AMOUNT_ATOM: Final = max(max_amount_atom(code) for code in currency_codes())
