"""A session's metered lines: a metered price charges nothing at checkout (its line's amount is 0) and is billed by
usage at the end of each period, so the customer is shown its rates instead of an amount. A session whose lines are
all metered has nothing due today and saves the payment method by a setup, as a trial does
(:func:`checkstand.checkout.trials.sets_up`).

The lines snapshot no rates; the prices are read for them (a price's economics never change, so its tiers are the
ones sold).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.catalog.models import METERED, Price
from checkstand.catalog.pricing import TIERED, VOLUME
from checkstand.checkout.models import CheckoutSession

BILLED_BY_USAGE = "Billed by usage"


async def metered_prices(session: AsyncSession, checkout: CheckoutSession) -> dict[str, Price]:
    """The metered prices the session's lines sell, by price id."""
    prices = await catalog.get_prices(session, checkout.account_id, {item.price_id for item in checkout.line_items})
    return {price_id: price for price_id, price in prices.items() if price.usage_type == METERED}


def rates(price: Price, money: Callable[[int], str]) -> str:
    """A metered price's rates as the customer reads them: ``$0.05 per unit``, ``$3.00 per 1,000 units``, or its
    tiers (``1 to 10: $1.00 each; 11 and more: $0.80 each + $5.00 flat fee``), worded as the page words a
    tiered line (:mod:`checkstand.pages.price_tiers`), ``money`` formatting amounts."""
    unit = price.unit_label or "unit"
    if price.billing_scheme != TIERED or not price.tiers:
        per = f"{price.quantity_divisor:,} {unit}s" if price.quantity_divisor else unit
        return f"{money(price.unit_amount_atom)} per {per}"
    described = []
    floor = 1
    for tier in price.tiers:
        upto = tier.get("units_upto")
        span = f"{floor:,} and more" if upto is None else f"{floor:,} to {upto:,}"
        amount = f"{money(int(tier['unit_amount_atom']))} each"
        if tier.get("flat_amount_atom"):
            amount += f" + {money(int(tier['flat_amount_atom']))} flat fee"
        described.append(f"{span}: {amount}")
        floor = (upto or 0) + 1
    mode = "every unit at the tier the total reaches" if price.tiers_mode == VOLUME else "each tier its own units"
    packages = f", counted in packages of {price.quantity_divisor:,} {unit}s" if price.quantity_divisor else ""
    return f"{'; '.join(described)} ({mode}{packages})"
