"""``amount_for`` against a direct reference computation: unit by unit for graduated tiers (each unit priced by the
tier it falls in, each entered tier's flat amount once), and the reached tier for volume."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from checkstand.catalog.pricing import GRADUATED, PER_UNIT, TIERED, VOLUME, amount_for, tier_problems
from checkstand.core.money import max_amount_atom

CURRENCIES = ("jpy", "usd", "kwd")  # 0, 2 and 3 decimals


@dataclass(frozen=True)
class _Price:
    billing_scheme: str
    tiers_mode: str | None
    tiers: list[dict[str, Any]] | None
    quantity_divisor: int | None
    unit_amount_atom: int = 0


@st.composite
def tier_lists(draw: st.DrawFn, currency: str) -> list[dict[str, Any]]:
    """Valid tiers whose amounts reach the currency's own cap."""
    cap = max_amount_atom(currency) // 1000
    bounds = sorted(draw(st.sets(st.integers(1, 500), max_size=5)))
    amounts = st.integers(0, cap)
    return [
        {"units_upto": upto, "unit_amount_atom": draw(amounts), "flat_amount_atom": draw(st.none() | amounts)}
        for upto in [*bounds, None]
    ]


def _tier_of(tiers: list[dict[str, Any]], unit: int) -> int:
    return next(i for i, tier in enumerate(tiers) if tier["units_upto"] is None or unit <= tier["units_upto"])


def _graduated_reference(tiers: list[dict[str, Any]], quantity: int) -> int:
    reached = {_tier_of(tiers, unit) for unit in range(1, quantity + 1)}
    per_unit = sum(tiers[_tier_of(tiers, unit)]["unit_amount_atom"] for unit in range(1, quantity + 1))
    return per_unit + sum(tiers[i]["flat_amount_atom"] or 0 for i in reached)


def _volume_reference(tiers: list[dict[str, Any]], quantity: int) -> int:
    if quantity == 0:
        return 0
    tier = tiers[_tier_of(tiers, quantity)]
    return int(tier["unit_amount_atom"] * quantity + (tier["flat_amount_atom"] or 0))


currency_and_tiers = st.sampled_from(CURRENCIES).flatmap(lambda c: st.tuples(st.just(c), tier_lists(c)))


@given(currency_and_tiers, st.integers(0, 700))
def test_graduated_matches_the_unit_by_unit_reference(drawn: tuple[str, list[dict[str, Any]]], quantity: int) -> None:
    currency, tiers = drawn
    assert tier_problems(tiers, max_amount_atom(currency)) == []
    price = _Price(TIERED, GRADUATED, tiers, None)
    assert amount_for(price, quantity) == _graduated_reference(tiers, quantity)


@given(currency_and_tiers, st.integers(0, 700))
def test_volume_prices_every_unit_at_the_reached_tier(drawn: tuple[str, list[dict[str, Any]]], quantity: int) -> None:
    _, tiers = drawn
    price = _Price(TIERED, VOLUME, tiers, None)
    assert amount_for(price, quantity) == _volume_reference(tiers, quantity)


@given(currency_and_tiers, st.integers(0, 700), st.integers(0, 700))
def test_graduated_is_monotonic_and_never_negative(
    drawn: tuple[str, list[dict[str, Any]]], first: int, second: int
) -> None:
    _, tiers = drawn
    price = _Price(TIERED, GRADUATED, tiers, None)
    low, high = sorted((first, second))
    assert 0 <= amount_for(price, low) <= amount_for(price, high)


@given(currency_and_tiers, st.integers(0, 700))
def test_volume_is_never_negative(drawn: tuple[str, list[dict[str, Any]]], quantity: int) -> None:
    _, tiers = drawn
    assert amount_for(_Price(TIERED, VOLUME, tiers, None), quantity) >= 0


@given(st.sampled_from(CURRENCIES), st.integers(0, 10**6), st.integers(1, 10**4), st.integers(0, 10**4))
def test_package_pricing_counts_a_started_package_whole(currency: str, quantity: int, divisor: int, unit: int) -> None:
    unit = min(unit, max_amount_atom(currency))
    packages = quantity // divisor + (1 if quantity % divisor else 0)
    price = _Price(PER_UNIT, None, None, divisor, unit)
    assert amount_for(price, quantity) == packages * unit


@given(currency_and_tiers, st.integers(0, 5000), st.integers(2, 100))
def test_package_pricing_applies_before_the_tiers(
    drawn: tuple[str, list[dict[str, Any]]], quantity: int, divisor: int
) -> None:
    _, tiers = drawn
    packages = -(-quantity // divisor)
    price = _Price(TIERED, GRADUATED, tiers, divisor)
    assert amount_for(price, quantity) == _graduated_reference(tiers, packages)


def test_the_issue_example_over_tiers_of_ten() -> None:
    tiers = [
        {"units_upto": 10, "unit_amount_atom": 1000, "flat_amount_atom": None},
        {"units_upto": 20, "unit_amount_atom": 800, "flat_amount_atom": None},
        {"units_upto": None, "unit_amount_atom": 500, "flat_amount_atom": 100},
    ]
    assert amount_for(_Price(TIERED, GRADUATED, tiers, None), 25) == 10 * 1000 + 10 * 800 + 5 * 500 + 100
    assert amount_for(_Price(TIERED, VOLUME, tiers, None), 25) == 25 * 500 + 100
    assert amount_for(_Price(PER_UNIT, None, None, 1000, 250), 1001) == 500


def test_tier_problems_name_each_broken_rule() -> None:
    cap = max_amount_atom("usd")
    tiers = [
        {"units_upto": 10, "unit_amount_atom": 1},
        {"units_upto": 10, "unit_amount_atom": cap + 1},
        {"units_upto": None, "unit_amount_atom": 1},
        {"units_upto": 30, "unit_amount_atom": 1, "flat_amount_atom": -1},
    ]
    assert tier_problems(tiers, cap) == [
        ((1, "units_upto"), "must be greater than 10: tiers ascend"),
        ((1, "unit_amount_atom"), f"must be from 0 to {cap}"),
        ((2, "units_upto"), "only the last tier is unbounded (null)"),
        ((3, "units_upto"), "the last tier must be unbounded (null)"),
        ((3, "flat_amount_atom"), f"must be from 0 to {cap}"),
    ]
    assert tier_problems([], cap) == [((), "at least one tier is needed, the last with units_upto null")]
