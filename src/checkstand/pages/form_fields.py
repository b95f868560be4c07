"""Reading a hosted page's form post: text as the customer typed it, numbers in ASCII digits only, and no NUL.

``str.isdigit`` and ``int`` take the digits of every script: a superscript ``²`` passes ``isdigit`` and fails
``int`` (that was a 500), and Arabic-Indic or full-width digits pass both. A card's digits are ASCII wherever they
go next (processors, networks), so a field holding any other is the field's error on the page, like a typo.

A NUL can't be stored in PostgreSQL text (a 500 there) and is never typed on purpose: a post carrying one in any
field is refused (422, the page again) before anything is stored.
"""

from __future__ import annotations

import re
from typing import Final

from starlette.datastructures import FormData

from checkstand.core.nul import NUL

# Not ``\d``: in a str pattern it matches every script's digits.
_ASCII_DIGITS: Final = re.compile(r"[0-9]+")


def ascii_digits(value: str) -> str | None:
    """``value`` when it is one or more ASCII digits, else ``None``."""
    return value if _ASCII_DIGITS.fullmatch(value) else None


def ascii_number(value: str, lowest: int, highest: int) -> int | None:
    """``value`` as a whole number from ``lowest`` to ``highest`` when written in ASCII digits, else ``None``."""
    digits = ascii_digits(value)
    if digits is None:
        return None
    number = int(digits)
    return number if lowest <= number <= highest else None


def fields_with_nul(form: FormData) -> list[str]:
    """The names of the fields (or of the fields named) with a NUL character, in the order posted."""
    return [name for name, value in form.multi_items() if NUL in name or (isinstance(value, str) and NUL in value)]


def without_nul(value: str) -> str:
    """``value`` as the page may show it again after refusing it."""
    return value.replace(NUL, "")
