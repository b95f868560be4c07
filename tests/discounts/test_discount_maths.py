"""The pure discount function: exact amounts in JPY, USD and KWD, half-even rounding, never a negative total, and
the refusals that depend only on the coupon and the lines (Hypothesis)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import configure_mappers

from checkstand.core.errors import BusinessRuleViolation
from checkstand.discounts.maths import Line, compute_discount
from checkstand.discounts.models import Coupon

# The first ORM object would configure every mapper (some hundred milliseconds on a busy machine), counted against
# the first example's Hypothesis deadline: configure them once, before any example runs.
configure_mappers()

CURRENCIES = {"JPY": 0, "USD": 2, "KWD": 3}
PRODUCTS = ["prod_a", "prod_b", "prod_c"]


def percent_coupon(percent: Decimal, product_ids: Sequence[str] = ()) -> Coupon:
    return Coupon(
        discount_type="percent_off", percent_off_bp=int(percent * 100), currency=None, product_ids=list(product_ids)
    )


def amount_coupon(amount_atom: int, currency: str, product_ids: Sequence[str] = ()) -> Coupon:
    return Coupon(
        discount_type="amount_off",
        amount_atom_off=amount_atom,
        currency=currency.lower(),
        product_ids=list(product_ids),
    )


def expected_percent_off(amount_atom: int, percent: Decimal, currency: str) -> int:
    """Worked out independently: in the major unit, with Decimal, rounded half-even at the currency's precision."""
    places = CURRENCIES[currency]
    major = Decimal(amount_atom).scaleb(-places)
    off = (major * percent / 100).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    return int(off.scaleb(places))


amounts = st.integers(min_value=0, max_value=10**12)
percents = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(100), places=2)
lines = st.lists(
    st.builds(Line, amount_atom=amounts, product_id=st.sampled_from([*PRODUCTS, None])), min_size=1, max_size=8
)


@given(amount=amounts, percent=percents, currency=st.sampled_from(sorted(CURRENCIES)))
def test_percent_off_is_exact_and_rounded_half_even(amount: int, percent: Decimal, currency: str) -> None:
    discount = compute_discount(percent_coupon(percent), [Line(amount)], currency)
    assert discount.amount_atom == expected_percent_off(amount, percent, currency)
    assert discount.line_amounts_atom == (discount.amount_atom,)


@given(amount=amounts, off=st.integers(min_value=1, max_value=10**13), currency=st.sampled_from(sorted(CURRENCIES)))
def test_amount_off_never_exceeds_what_it_applies_to(amount: int, off: int, currency: str) -> None:
    discount = compute_discount(amount_coupon(off, currency), [Line(amount)], currency)
    assert discount.amount_atom == min(off, amount)
    assert amount - discount.amount_atom >= 0


@given(
    order=lines,
    restricted=st.lists(st.sampled_from(PRODUCTS), max_size=3, unique=True),
    percent=percents,
    off=st.integers(min_value=1, max_value=10**13),
    kind=st.sampled_from(["percent_off", "amount_off"]),
)
def test_totals_are_never_negative_and_shares_add_up(
    order: list[Line], restricted: list[str], percent: Decimal, off: int, kind: str
) -> None:
    coupon = percent_coupon(percent, restricted) if kind == "percent_off" else amount_coupon(off, "USD", restricted)
    applicable = [not restricted or line.product_id in restricted for line in order]
    if not any(applicable):
        with pytest.raises(BusinessRuleViolation) as refused:
            compute_discount(coupon, order, "usd")
        assert refused.value.code == "coupon_not_applicable"
        return
    discount = compute_discount(coupon, order, "usd")
    base = sum(line.amount_atom for line, ok in zip(order, applicable, strict=True) if ok)
    assert 0 <= discount.amount_atom <= base
    assert sum(discount.line_amounts_atom) == discount.amount_atom
    for line, ok, share in zip(order, applicable, discount.line_amounts_atom, strict=True):
        assert 0 <= share <= line.amount_atom
        if not ok:
            assert share == 0
    if kind == "percent_off":
        assert discount.amount_atom == expected_percent_off(base, percent, "USD")


@pytest.mark.parametrize(
    ("currency", "amount", "percent", "expected"),
    [
        ("JPY", 4, "12.5", 0),  # 0.5 yen rounds to the even 0
        ("JPY", 12, "12.5", 2),  # 1.5 yen rounds to the even 2
        ("JPY", 1000, "33.33", 333),
        ("USD", 1, "50", 0),  # half a cent: down to 0
        ("USD", 3, "50", 2),  # a cent and a half: up to 2
        ("USD", 1999, "15", 300),  # 299.85 cents
        ("USD", 1999, "100", 1999),
        ("KWD", 1005, "10", 100),  # 100.5 fils: down to the even 100
        ("KWD", 1015, "10", 102),  # 101.5 fils: up to the even 102
        ("KWD", 1234567, "12.5", 154321),  # 154320.875 fils
    ],
)
def test_rounding_examples(currency: str, amount: int, percent: str, expected: int) -> None:
    assert compute_discount(percent_coupon(Decimal(percent)), [Line(amount)], currency).amount_atom == expected


def test_only_the_coupons_products_are_discounted() -> None:
    coupon = percent_coupon(Decimal(50), ["prod_a"])
    discount = compute_discount(coupon, [Line(1000, "prod_a"), Line(600, "prod_b"), Line(300, "prod_a")], "usd")
    assert discount.amount_atom == 650
    assert discount.line_amounts_atom == (500, 0, 150)


def test_an_amount_off_is_shared_in_proportion_without_losing_a_unit() -> None:
    coupon = amount_coupon(100, "usd")
    discount = compute_discount(coupon, [Line(1), Line(1), Line(1)], "usd")
    assert discount.line_amounts_atom == (1, 1, 1)
    discount = compute_discount(amount_coupon(10, "usd"), [Line(100), Line(100), Line(100)], "usd")
    assert discount.line_amounts_atom == (4, 3, 3)


def test_a_coupon_for_other_products_is_refused() -> None:
    coupon = percent_coupon(Decimal(10), ["prod_a"])
    for order in ([Line(1000, "prod_b")], [Line(1000, None)], []):
        with pytest.raises(BusinessRuleViolation) as refused:
            compute_discount(coupon, order, "usd")
        assert refused.value.code == "coupon_not_applicable"


def test_an_amount_off_applies_only_in_its_currency() -> None:
    coupon = amount_coupon(500, "usd")
    assert compute_discount(coupon, [Line(1000)], "USD").amount_atom == 500
    with pytest.raises(BusinessRuleViolation) as refused:
        compute_discount(coupon, [Line(1000)], "eur")
    assert refused.value.code == "coupon_currency_mismatch"
    # A percentage is currency-free.
    assert compute_discount(percent_coupon(Decimal(10)), [Line(1000)], "eur").amount_atom == 100


def test_a_trial_extension_takes_nothing_off_the_amount() -> None:
    coupon = Coupon(discount_type="trial_extension", trial_days_off=14, product_ids=[])
    discount = compute_discount(coupon, [Line(900)], "usd")
    assert (discount.amount_atom, discount.trial_days_off, discount.line_amounts_atom) == (0, 14, (0,))


def test_bad_input_from_the_caller_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="negative"):
        compute_discount(percent_coupon(Decimal(10)), [Line(-1)], "usd")
    with pytest.raises(ValueError, match="unknown currency"):
        compute_discount(percent_coupon(Decimal(10)), [Line(1)], "xyz")
