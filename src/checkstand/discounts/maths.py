"""The discount maths: what a coupon takes off an order, in total and line by line.

Pure (it reads neither clock nor database), so a checkout, a renewal or a test can price a discount as often as it
likes; whether a coupon may be used at all is :mod:`checkstand.discounts.redemptions`' to say.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from checkstand.core import money
from checkstand.core.errors import BusinessRuleViolation
from checkstand.discounts.models import Coupon

AMOUNT_OFF: Final = "amount_off"
PERCENT_OFF: Final = "percent_off"
TRIAL_EXTENSION: Final = "trial_extension"
DISCOUNT_TYPES: Final = (AMOUNT_OFF, PERCENT_OFF, TRIAL_EXTENSION)
BASIS_POINTS: Final = 10_000  # 100 %


@dataclass(frozen=True)
class Line:
    """One line of an order: its amount before any discount (unit amount times quantity) in minor units, and the
    product it sells, which decides whether a coupon restricted to some products applies to it."""

    amount_atom: int
    product_id: str | None = None


@dataclass(frozen=True)
class Discount:
    """What a coupon takes off an order. ``line_amounts_atom`` follows the order of the lines given and sums to
    ``amount_atom``; no line gets more off than its own amount, and lines the coupon doesn't apply to get 0."""

    amount_atom: int
    line_amounts_atom: tuple[int, ...]
    trial_days_off: int = 0


def compute_discount(coupon: Coupon, lines: Sequence[Line], currency: str) -> Discount:
    """The discount ``coupon`` gives on ``lines`` priced in ``currency``; pure, it reads neither clock nor database.

    Only the lines of the coupon's products are discounted when it has ``product_ids`` (none of them:
    ``coupon_not_applicable``). A percentage is taken of their sum and rounded half-even to the currency's minor
    unit; an amount off never exceeds that sum, so a total is never negative, and applies only in the coupon's own
    currency (else ``coupon_currency_mismatch``). A trial extension takes nothing off the amount. The total is then
    shared among the discounted lines in proportion to their amounts (largest remainder first), so invoices and
    refunds can say what each line cost.
    """
    money.exponent(currency)  # an unknown currency is the caller's bug, not the customer's
    if any(line.amount_atom < 0 for line in lines):
        raise ValueError("a line's amount can't be negative")
    restricted_to = set(coupon.product_ids or ())
    applies = [not restricted_to or line.product_id in restricted_to for line in lines]
    if not any(applies):
        raise BusinessRuleViolation(
            "The coupon applies to none of the products of this order.", code="coupon_not_applicable"
        )
    check_currency(coupon, currency)
    weights = [line.amount_atom if ok else 0 for line, ok in zip(lines, applies, strict=True)]
    base = sum(weights)
    trial_days_off = 0
    if coupon.discount_type == AMOUNT_OFF:
        total = min(coupon.amount_atom_off or 0, base)
    elif coupon.discount_type == PERCENT_OFF:
        total = money.divide_half_even(base * (coupon.percent_off_bp or 0), BASIS_POINTS)
    else:
        total, trial_days_off = 0, coupon.trial_days_off or 0
    return Discount(amount_atom=total, line_amounts_atom=_allocate(total, weights), trial_days_off=trial_days_off)


def check_currency(coupon: Coupon, currency: str) -> None:
    """An amount off is money in one currency: it applies to orders in that currency only."""
    if coupon.discount_type == AMOUNT_OFF and (coupon.currency or "").lower() != currency.lower():
        raise BusinessRuleViolation(
            f"The coupon takes an amount off in {(coupon.currency or '').upper()}, not in {currency.upper()}.",
            code="coupon_currency_mismatch",
        )


def _allocate(total: int, weights: Sequence[int]) -> tuple[int, ...]:
    """``total`` (at most ``sum(weights)``) shared in proportion to ``weights`` in whole minor units: each share is
    rounded down, then the units left over go to the largest remainders (the earlier line on a tie)."""
    whole = sum(weights)
    if total == 0:
        return tuple(0 for _ in weights)
    shares = [total * weight // whole for weight in weights]
    left = total - sum(shares)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for index in by_remainder[:left]:
        shares[index] += 1
    return tuple(shares)
