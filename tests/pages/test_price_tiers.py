"""What the hosted page says under a tiered or package price's line: each tier's units and amounts, what its mode
means, and a package's size, in the page's locale."""

from __future__ import annotations

from typing import Any

import pytest

from checkstand.catalog.models import Price
from checkstand.core.money import format_money
from checkstand.pages.price_tiers import PriceTerms, price_terms

TIERS = [
    {"units_upto": 10, "unit_amount_atom": 1000, "flat_amount_atom": None},
    {"units_upto": 20, "unit_amount_atom": 800, "flat_amount_atom": 0},
    {"units_upto": None, "unit_amount_atom": 500, "flat_amount_atom": 250},
]


def _price(**economics: Any) -> Price:
    terms: dict[str, Any] = {
        "billing_scheme": "per_unit",
        "unit_amount_atom": 0,
        "currency": "usd",
        "usage_type": "licensed",
        **economics,
    }
    return Price(**terms)


def _terms(price: Price, locale: str = "en_US") -> PriceTerms | None:
    return price_terms(price, lambda minor: format_money(minor, price.currency, locale), locale)


def test_a_graduated_price_is_told_tier_by_tier() -> None:
    terms = _terms(_price(billing_scheme="tiered", tiers_mode="graduated", tiers=TIERS))
    assert terms == PriceTerms(
        "Graduated pricing: each tier prices its own units.",
        ["1 to 10: $10.00 each", "11 to 20: $8.00 each", "21 and more: $5.00 each + $2.50 flat fee"],
    )


def test_a_volume_price_says_the_tier_reached_prices_every_unit() -> None:
    tiers = [{"units_upto": 1, "unit_amount_atom": 2000}, {"units_upto": None, "unit_amount_atom": 1500}]
    terms = _terms(_price(billing_scheme="tiered", tiers_mode="volume", tiers=tiers, unit_label="seat"))
    assert terms == PriceTerms(
        "Volume pricing: the tier your quantity reaches prices every unit.",
        ["1: $20.00 each", "2 and more: $15.00 each"],
    )


def test_a_package_price_names_its_package_in_the_page_s_locale() -> None:
    assert _terms(_price(unit_amount_atom=500, quantity_divisor=1000)) == PriceTerms(
        "$5.00 per 1,000 units, a started package counted whole.", []
    )
    german = _terms(_price(unit_amount_atom=500, quantity_divisor=1000, currency="eur", unit_label="call"), "de_DE")
    assert german == PriceTerms("5,00\xa0€ per 1.000 calls, a started package counted whole.", [])


def test_tiers_counted_in_packages_say_so() -> None:
    terms = _terms(_price(billing_scheme="tiered", tiers_mode="graduated", tiers=TIERS, quantity_divisor=1000))
    assert terms is not None
    assert terms.summary.endswith("Quantities count in packages of 1,000 units, a started package counted whole.")
    assert terms.tiers[0] == "1 to 10: $10.00 each"


@pytest.mark.parametrize(
    "price",
    [
        _price(unit_amount_atom=1999),
        _price(unit_amount_atom=1999, quantity_divisor=1),
        _price(billing_scheme="tiered", tiers_mode="graduated", tiers=TIERS, usage_type="metered"),
    ],
)
def test_a_unit_amount_times_the_quantity_or_a_metered_price_needs_no_words(price: Price) -> None:
    assert _terms(price) is None
