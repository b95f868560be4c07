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
from checkstand.core.i18n import gettext, ngettext


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
    package = None if divisor is None else _units(price, divisor, locale)
    if price.billing_scheme != TIERED:
        return PriceTerms(
            gettext(
                "%(amount)s per %(package)s, a started package counted whole.",
                amount=money(price.unit_amount_atom),
                package=package,
            ),
            [],
        )
    rows = [_tier_row(span, amount) for span, amount in _tiers(price, money, locale)]
    if price.tiers_mode == VOLUME:
        summary = gettext("Volume pricing: the tier your quantity reaches prices every unit.")
    else:
        summary = gettext("Graduated pricing: each tier prices its own units.")
    if package is not None:
        summary += " " + gettext(
            "Quantities count in packages of %(package)s, a started package counted whole.", package=package
        )
    return PriceTerms(summary, rows)


def usage_rates(price: Price, money: Callable[[int], str], locale: str) -> str:
    """A metered price's rates as the customer reads them: ``$0.05 per unit``, ``$3.00 per 1,000 units``, or its
    tiers (``1 to 10: $1.00 each; 11 and more: $0.80 each + $5.00 flat fee``), worded as a tiered line is."""
    if price.billing_scheme != TIERED or not price.tiers:
        per = _units(price, price.quantity_divisor, locale) if price.quantity_divisor else _unit(price)
        return gettext("%(amount)s per %(unit)s", amount=money(price.unit_amount_atom), unit=per)
    described = "; ".join(_tier_row(span, amount) for span, amount in _tiers(price, money, locale))
    if price.tiers_mode == VOLUME:
        mode = gettext("every unit at the tier the total reaches")
    else:
        mode = gettext("each tier its own units")
    if price.quantity_divisor:
        mode += gettext(", counted in packages of %(package)s", package=_units(price, price.quantity_divisor, locale))
    return f"{described} ({mode})"


def _tiers(price: Price, money: Callable[[int], str], locale: str) -> list[tuple[str, str]]:
    """Each tier's span of units and what it charges, in order."""

    def count(number: int) -> str:
        return str(format_decimal(number, locale=locale))

    described = []
    floor = 1
    for tier in price.tiers or ():
        upto = tier.get("units_upto")
        if upto is None:
            span = gettext("%(first)s and more", first=count(floor))
        elif upto == floor:
            span = count(floor)
        else:
            span = gettext("%(first)s to %(last)s", first=count(floor), last=count(upto))
        amount = gettext("%(amount)s each", amount=money(int(tier["unit_amount_atom"])))
        if tier.get("flat_amount_atom"):
            amount = gettext("%(each)s + %(flat)s flat fee", each=amount, flat=money(int(tier["flat_amount_atom"])))
        described.append((span, amount))
        floor = (upto or 0) + 1
    return described


def _tier_row(span: str, amount: str) -> str:
    return gettext("%(span)s: %(amount)s", span=span, amount=amount)


def _unit(price: Price) -> str:
    return price.unit_label or gettext("unit")


def _units(price: Price, number: int, locale: str) -> str:
    """``1,000 units``; a merchant's own label stays as written (English labels take an "s")."""
    count = str(format_decimal(number, locale=locale))
    if price.unit_label is None:
        return ngettext("%(count)s unit", "%(count)s units", number, count=count)
    # Translators: the merchant's own unit label, pluralised the English way; other languages leave it as is.
    return gettext("%(count)s %(unit)ss", count=count, unit=price.unit_label)
