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


def order_id(subscription_id: str | None, checkout_session_id: str) -> str:
    """The order a completed checkout made: its subscription (``sub_X`` is ``ord_X``), or, for a checkout that bought
    one-time prices only, the purchase itself, named after the checkout (``cs_X`` is ``ord_X``)."""
    return row_order_id(subscription_id if subscription_id is not None else checkout_session_id)


def row_order_id(row_id: str) -> str:
    """The order id of the row an order is: a subscription (``sub_X``) or a one-time purchase (``cs_X``)."""
    return (
        swap_prefix(row_id, SUBSCRIPTION_PREFIX, ORDER_PREFIX)
        or swap_prefix(row_id, SESSION_PREFIX, ORDER_PREFIX)
        or row_id
    )


def resolve_order(order_id: str) -> list[str]:
    """The rows a Paid order id may name, to try in turn: the subscription, then the one-time purchase (both ids are
    random, so at most one exists). Empty for a string that isn't an order id (a 404, not a lookup)."""
    candidates = (
        swap_prefix(order_id, ORDER_PREFIX, SUBSCRIPTION_PREFIX),
        swap_prefix(order_id, ORDER_PREFIX, SESSION_PREFIX),
    )
    return [candidate for candidate in candidates if candidate is not None]
