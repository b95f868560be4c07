"""The phone number and address a checkout asks its customer for (Paid's ``collectPhone`` and ``collectAddress``):
checked when the customer pays, kept on the session, and given to its customer at completion."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Final

from babel import Locale

from checkstand.checkout.models import CheckoutSession
from checkstand.core.errors import FieldPath, FieldProblem
from checkstand.customers import service as customers

# A phone number as people write it: digits, spaces, dots, dashes, parentheses, a leading +; E.164 has at most 15
# digits, and the shortest real numbers have a few.
_PHONE: Final = re.compile(r"^\+?[0-9 ().-]+$")
MIN_PHONE_DIGITS: Final = 4
MAX_PHONE_DIGITS: Final = 15
MAX_PHONE_LENGTH: Final = 40
ADDRESS_LIMITS: Final = {"line1": 200, "line2": 200, "city": 100, "state": 100, "zip_code": 20, "country": 2}
ADDRESS_REQUIRED: Final = ("line1", "city", "country")
# Babel's territories that are groupings or placeholders, not places an address is in.
_NOT_COUNTRIES: Final = frozenset({"EU", "EZ", "QO", "UN", "ZZ"})


@cache
def country_codes() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes of the places an address may be in."""
    return frozenset(
        code
        for code in Locale("en").territories
        if isinstance(code, str) and len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES
    )


def contact_problems(
    checkout: CheckoutSession, phone: str | None, address: Mapping[str, str | None] | None
) -> list[FieldProblem]:
    """What is missing or wrong in the phone number and address the checkout asks for (under ``customer``); what
    it doesn't ask for is not looked at."""
    problems: list[FieldProblem] = []
    if checkout.collect_phone:
        problems += _phone_problems((phone or "").strip())
    if checkout.collect_address:
        problems += _address_problems(address or {})
    return problems


def take_contact(checkout: CheckoutSession, phone: str | None, address: Mapping[str, str | None] | None) -> None:
    """Keep what the checkout asks for (checked by :func:`contact_problems`) on the session, for its customer."""
    if checkout.collect_phone and phone is not None:
        checkout.customer_phone = phone.strip()
    if checkout.collect_address and address is not None:
        stored = {name: (address.get(name) or "").strip() or None for name in customers.ADDRESS_FIELDS}
        stored["country"] = (stored["country"] or "").upper() or None
        checkout.customer_address = stored


def _phone_problems(phone: str) -> list[FieldProblem]:
    path: FieldPath = ("customer", "phone")
    if not phone:
        return [FieldProblem(path, "enter a phone number", "missing")]
    digits = sum(char.isdigit() for char in phone)
    if len(phone) > MAX_PHONE_LENGTH or not _PHONE.match(phone):
        return [FieldProblem(path, "use digits, spaces, dashes, dots, brackets and a leading +", "phone_invalid")]
    if not MIN_PHONE_DIGITS <= digits <= MAX_PHONE_DIGITS:
        message = f"a phone number has from {MIN_PHONE_DIGITS} to {MAX_PHONE_DIGITS} digits"
        return [FieldProblem(path, message, "phone_invalid")]
    return []


def _address_problems(address: Mapping[str, str | None]) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    for name, limit in ADDRESS_LIMITS.items():
        value = (address.get(name) or "").strip()
        path: FieldPath = ("customer", "address", name)
        if not value:
            if name in ADDRESS_REQUIRED:
                problems.append(FieldProblem(path, "required", "missing"))
        elif len(value) > limit or not value.isprintable():
            problems.append(FieldProblem(path, f"at most {limit} printable characters", "string_too_long"))
        elif name == "country" and value.upper() not in country_codes():
            problems.append(FieldProblem(path, "a two-letter country code (ISO 3166-1)", "country_invalid"))
    return problems
