"""What a price charges for a quantity, exact in integer minor units.

Every scheme is a sum of integer products, so no rounding happens here at all: the only rounding is package
pricing's, which counts a started package whole (``quantity_divisor``: 1,001 units at "per 1,000" are 2 packages),
as Stripe's ``transform_quantity`` with ``round: up`` does. Nothing bought costs nothing, whatever the tiers' flat
amounts: a flat amount is the price of entering a tier, and a quantity of 0 enters none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol

TIERED: Final = "tiered"
PER_UNIT: Final = "per_unit"
GRADUATED: Final = "graduated"
VOLUME: Final = "volume"


class PriceLike(Protocol):
    """The fields of :class:`~checkstand.catalog.models.Price` a charge depends on."""

    @property
    def billing_scheme(self) -> str: ...
    @property
    def tiers_mode(self) -> str | None: ...
    @property
    def tiers(self) -> Sequence[Mapping[str, Any]] | None: ...
    @property
    def quantity_divisor(self) -> int | None: ...
    @property
    def unit_amount_atom(self) -> int: ...


def billed_units(quantity: int, divisor: int | None) -> int:
    """The units a quantity is billed as: whole packages of ``divisor``, a started one counted (ceil division)."""
    if divisor is None or divisor <= 1:
        return quantity
    return -(-quantity // divisor)


def bills_per_unit(price: PriceLike) -> bool:
    """Whether the price bills its unit amount times the quantity: per unit, not tiered nor in packages."""
    return price.billing_scheme != TIERED and (price.quantity_divisor or 1) <= 1


def amount_for(price: PriceLike, quantity: int) -> int:
    """The price's amount for ``quantity`` units, in minor units: per unit, or by its tiers (graduated: each tier
    prices its own units and adds its flat amount once entered; volume: the tier the quantity reaches prices every
    unit, plus its flat amount). Tiers are ascending ``units_upto`` bounds, the last unbounded (None)."""
    if quantity < 0:
        raise ValueError("a quantity is never negative")
    units = billed_units(quantity, price.quantity_divisor)
    if units == 0:
        return 0
    if price.billing_scheme != TIERED:
        return price.unit_amount_atom * units
    tiers = price.tiers or ()
    if price.tiers_mode == VOLUME:
        for tier in tiers:
            upto = tier.get("units_upto")
            if upto is None or units <= upto:
                return _tier_amount(tier, units)
        raise ValueError("the last tier must be unbounded")
    total = 0
    floor = 0
    for tier in tiers:
        upto = tier.get("units_upto")
        ceiling = units if upto is None else min(units, upto)
        if ceiling > floor:
            total += _tier_amount(tier, ceiling - floor)
        if upto is None or units <= upto:
            return total
        floor = upto
    raise ValueError("the last tier must be unbounded")


def _tier_amount(tier: Mapping[str, Any], units: int) -> int:
    return int(tier["unit_amount_atom"]) * units + int(tier.get("flat_amount_atom") or 0)


def tier_problems(tiers: Sequence[Mapping[str, Any]], max_amount: int) -> list[tuple[tuple[str | int, ...], str]]:
    """What makes a list of tiers unusable, each with its path under ``tiers``: at least one tier, ``units_upto``
    strictly ascending from 1, only the last one unbounded, and every amount from 0 to ``max_amount``."""
    if not tiers:
        return [((), "at least one tier is needed, the last with units_upto null")]
    problems: list[tuple[tuple[str | int, ...], str]] = []
    previous = 0
    for index, tier in enumerate(tiers):
        upto = tier.get("units_upto")
        last = index == len(tiers) - 1
        if upto is None and not last:
            problems.append(((index, "units_upto"), "only the last tier is unbounded (null)"))
        elif upto is not None and last:
            problems.append(((index, "units_upto"), "the last tier must be unbounded (null)"))
        elif upto is not None and upto <= previous:
            problems.append(((index, "units_upto"), f"must be greater than {previous}: tiers ascend"))
        if upto is not None:
            previous = max(previous, upto)
        for field in ("unit_amount_atom", "flat_amount_atom"):
            amount = tier.get(field)
            if amount is not None and not 0 <= amount <= max_amount:
                problems.append(((index, field), f"must be from 0 to {max_amount}"))
    return problems
