"""Paid's ids for the rows both dialects serve. Paid calls a checkout session ``chk_...`` and the order a checkout
made ``ord_...``; rather than a second id per row, the Paid id is the row's id with Paid's prefix, so either id
finds the same row and nothing has to be kept in step. Products, prices (Paid's plans) and customers keep their
own ids in both dialects."""

from __future__ import annotations

from typing import Final

CHECKOUT_PREFIX: Final = "chk_"
SESSION_PREFIX: Final = "cs_"
ORDER_PREFIX: Final = "ord_"
SUBSCRIPTION_PREFIX: Final = "sub_"


def swap_prefix(value: str, old: str, new: str) -> str | None:
    """``value`` with ``old`` replaced by ``new``; None when it doesn't start with ``old`` (not such an id)."""
    return new + value.removeprefix(old) if value.startswith(old) and len(value) > len(old) else None


def checkout_id(session_id: str) -> str:
    return swap_prefix(session_id, SESSION_PREFIX, CHECKOUT_PREFIX) or session_id


def session_id(checkout_id: str) -> str | None:
    """The session a Paid checkout id names, or None for a string that isn't one (a 404, not a lookup)."""
    return swap_prefix(checkout_id, CHECKOUT_PREFIX, SESSION_PREFIX)
