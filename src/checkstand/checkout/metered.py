"""A session's metered lines: a metered price charges nothing at checkout (its line's amount is 0) and is billed by
usage at the end of each period, so the customer is shown its rates instead of an amount (worded by the page,
:func:`checkstand.pages.price_tiers.usage_rates`). A session whose lines are
all metered has nothing due today and saves the payment method by a setup, as a trial does
(:func:`checkstand.checkout.trials.sets_up`).

The lines snapshot no rates; the prices are read for them (a price's economics never change, so its tiers are the
ones sold).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.catalog.models import METERED, Price
from checkstand.checkout.models import CheckoutSession


async def metered_prices(session: AsyncSession, checkout: CheckoutSession) -> dict[str, Price]:
    """The metered prices the session's lines sell, by price id."""
    prices = await catalog.get_prices(session, checkout.account_id, {item.price_id for item in checkout.line_items})
    return {price_id: price for price_id, price in prices.items() if price.usage_type == METERED}
