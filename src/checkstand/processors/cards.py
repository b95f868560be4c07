"""A card's brand, read from its number's prefix (the issuer identification ranges) at the moment the card is seen.

The number is never stored, so the brand has to be taken then; names are Stripe's (``card.brand``), so a method
saved through the simulator and one saved at Stripe read the same. The ranges are the networks' published ones,
narrowest first where they overlap (Discover's 622126-622925 sits inside UnionPay's 62).
"""

from __future__ import annotations

from typing import Final

UNKNOWN: Final = "unknown"

# (brand, first digits as inclusive ranges of prefixes of one length), tried in order.
_RANGES: Final[tuple[tuple[str, tuple[tuple[int, int], ...]], ...]] = (
    ("amex", ((34, 34), (37, 37))),
    ("diners", ((300, 305), (3095, 3095), (36, 36), (38, 39))),
    ("jcb", ((3528, 3589),)),
    ("discover", ((6011, 6011), (622126, 622925), (644, 649), (65, 65))),
    ("unionpay", ((62, 62), (81, 81))),
    ("mastercard", ((51, 55), (2221, 2720))),
    ("visa", ((4, 4),)),
)


def card_brand(number: str) -> str:
    """The brand of a card number (digits only; separators already removed), ``unknown`` when no range has it."""
    if not number.isascii() or not number.isdigit():
        return UNKNOWN
    for brand, ranges in _RANGES:
        for low, high in ranges:
            width = len(str(low))
            if len(number) >= width and low <= int(number[:width]) <= high:
                return brand
    return UNKNOWN
