"""How a line's price turns its quantity into the amount shown, for prices that are not a unit amount times the
quantity: a tiered price tier by tier (``1 to 10: $10.00 each``, ``21 and more: $5.00 each + $2.50 flat fee``) with
what its mode means, and a package price (``$5.00 per 1,000 units``). A metered line says its rates itself
(:mod:`checkstand.checkout.metered`).

Lines snapshot no tiers, so the prices are read: a price's economics never change, so its tiers are the ones sold.
Amounts are formatted by the page's ``money`` and counts in the page's locale (Babel).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from babel.numbers import format_decimal
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.catalog.models import METERED, Price
from checkstand.catalog.pricing import TIERED, VOLUME
from checkstand.checkout.models import CheckoutLineItem


@dataclass(frozen=True)
class PriceTerms:
    """What the page says under a line: a sentence, and the tiers one per row (none for a package price)."""

    summary: str
    tiers: list[str]


async def terms_by_price(
    session: AsyncSession, account_id: str, lines: Sequence[CheckoutLineItem], money: Callable[[int], str], locale: str
) -> dict[str, PriceTerms]:
    """The terms of each tiered or package price the lines sell, by price id."""
    prices = await catalog.get_prices(session, account_id, {line.price_id for line in lines})
    described = {price_id: price_terms(price, money, locale) for price_id, price in prices.items()}
    return {price_id: terms for price_id, terms in described.items() if terms is not None}


def price_terms(price: Price, money: Callable[[int], str], locale: str) -> PriceTerms | None:
    """None for a price that charges its unit amount times the quantity, and for a metered one."""
    divisor = price.quantity_divisor if price.quantity_divisor and price.quantity_divisor > 1 else None
    if price.usage_type == METERED or (price.billing_scheme != TIERED and divisor is None):
        return None

    def count(number: int) -> str:
        return str(format_decimal(number, locale=locale))

    unit = price.unit_label or "unit"
    package = None if divisor is None else f"{count(divisor)} {unit}s"
    if price.billing_scheme != TIERED:
        return PriceTerms(f"{money(price.unit_amount_atom)} per {package}, a started package counted whole.", [])
    rows = []
    floor = 1
    for tier in price.tiers or ():
        upto = tier.get("units_upto")
        if upto is None:
            span = f"{count(floor)} and more"
        elif upto == floor:
            span = count(floor)
        else:
            span = f"{count(floor)} to {count(upto)}"
        row = f"{span}: {money(int(tier['unit_amount_atom']))} each"
        if tier.get("flat_amount_atom"):
            row += f" + {money(int(tier['flat_amount_atom']))} flat fee"
        rows.append(row)
        floor = (upto or 0) + 1
    if price.tiers_mode == VOLUME:
        summary = "Volume pricing: the tier your quantity reaches prices every unit."
    else:
        summary = "Graduated pricing: each tier prices its own units."
    if package is not None:
        summary += f" Quantities count in packages of {package}, a started package counted whole."
    return PriceTerms(summary, rows)
