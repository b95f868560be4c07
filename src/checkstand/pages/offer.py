"""A Paid checkout on the hosted page (:mod:`checkstand.checkout.offers`): its plans to pick among, one radio group
per product (``plan_<line position>``, valued by the plan's index among its product's plans: ids stay off the page),
the currency choice, the phone and address fields it asks for, and its informational cards. Picking re-prices on the
server through an "Update" button, or when paying with another pick than the one priced: no script is needed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any, Final

from babel import Locale, UnknownLocaleError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from checkstand.checkout import offer_choices
from checkstand.checkout.contact_details import country_codes
from checkstand.checkout.models import CheckoutSession
from checkstand.checkout.offer_terms import CustomCard
from checkstand.core.errors import FieldPath

CHOOSE: Final = "offer"
PLAN_PREFIX: Final = "plan_"
CURRENCY_FIELD: Final = "currency"
PHONE_FIELD: Final = "phone"
# The address's form fields, by the address field each fills.
ADDRESS_FIELDS: Final = {
    "line1": "address_line1",
    "line2": "address_line2",
    "city": "address_city",
    "state": "address_state",
    "zip_code": "address_zip_code",
    "country": "address_country",
}
FIELDS: Final = (CURRENCY_FIELD, PHONE_FIELD, *ADDRESS_FIELDS.values())
# A pick as the form sends it: the line's position in the name, the plan's index as the value (ASCII digits only).
_PICK_NAME: Final = re.compile(r"^plan_([0-9]{1,3})$")
_PICK_VALUE: Final = re.compile(r"^[0-9]{1,3}$")


def picks(form: FormData) -> dict[int, int] | None:
    """The plans picked, by line position; None when a pick isn't one the page could have sent."""
    found: dict[int, int] = {}
    for name, value in form.multi_items():
        name_match = _PICK_NAME.match(name)
        if name_match is None:
            continue
        if not isinstance(value, str) or not _PICK_VALUE.match(value):
            return None
        found[int(name_match[1])] = int(value)
    return found


def address(values: Mapping[str, str]) -> dict[str, str | None]:
    return {name: values.get(field, "").strip() or None for name, field in ADDRESS_FIELDS.items()}


def error_field(path: FieldPath) -> str | None:
    """The form field a service's problem is about, for the offer's fields; None for another field."""
    if path[:2] == ("customer", "address") and len(path) == 3:
        return ADDRESS_FIELDS.get(str(path[2]))
    if path == ("customer", "phone"):
        return PHONE_FIELD
    if path[:1] == ("plans",):
        return f"{PLAN_PREFIX}{path[1]}" if len(path) == 2 else "plans"
    if path == ("currency",):
        return CURRENCY_FIELD
    return None


async def context(
    session: AsyncSession,
    checkout: CheckoutSession,
    money: Callable[[int], str],
    billing: Callable[[str | None, int | None], str | None],
    trial: Callable[[int], str | None],
    locale: str,
) -> dict[str, Any]:
    """What the offer's partial templates show. ``money`` formats in the session's currency, ``billing`` says a
    price's billing interval, ``trial`` its free trial."""
    choices = await offer_choices.offer_choices(session, checkout)
    return {
        "choose": CHOOSE,
        "groups": [
            {
                "field": f"{PLAN_PREFIX}{choice.line.position}",
                "product": choice.line.product_name,
                "options": [
                    {
                        "value": str(option.index),
                        "name": option.price.name or option.price.product.name,
                        "amount": money(option.price.unit_amount_atom),
                        "billing": billing(option.price.recurring_interval, option.price.recurring_interval_count),
                        "trial": trial(option.price.trial_days),
                        "features": list(option.features),
                        "selected": option.selected,
                    }
                    for option in choice.options
                ],
            }
            for choice in choices
        ],
        "currencies": [
            {"code": code, "label": code.upper(), "selected": code == checkout.currency}
            for code in offer_choices.currency_choices(checkout)
        ],
        "collect_phone": checkout.collect_phone,
        "collect_address": checkout.collect_address,
        "countries": _countries(locale) if checkout.collect_address else [],
        "cards": [CustomCard.of(card) for card in checkout.custom_cards],
        "address_fields": ADDRESS_FIELDS,
    }


def _countries(locale: str) -> list[tuple[str, str]]:
    """Every country an address may be in, named in the customer's language, in its alphabetical order."""
    try:
        names = Locale.parse(locale).territories
    except (UnknownLocaleError, ValueError):
        names = Locale("en").territories
    return sorted(
        ((code, str(names.get(code, code))) for code in country_codes()), key=lambda entry: _sort_key(entry[1])
    )


def _sort_key(name: str) -> str:
    """A name as an index sorts it: accents and case aside (Åland Islands among the A's)."""
    return "".join(char for char in unicodedata.normalize("NFKD", name) if not unicodedata.combining(char)).casefold()
