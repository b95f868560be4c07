"""When a subscription's coupon discounts, and what it takes off each line of a plan: one rule for the renewal
invoice (:mod:`checkstand.invoices.renewal`) and for a plan change's prorations (:mod:`.plan_changes`), so a change
credits the unused time at what the customer paid for it and charges the rest of the period at what a renewal would.

The terms are the coupon's as sold (``Subscription.discount``): ``forever`` discounts every period; ``repeating``
those starting within ``duration_in_months`` of the subscription's start (a proration while its months last at the
change's instant); ``once`` only the first charge (the checkout's, or the first after a trial), so it never discounts
a proration made later.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from checkstand.core.errors import BusinessRuleViolation
from checkstand.discounts import maths
from checkstand.discounts.models import Coupon
from checkstand.subscriptions.models import Subscription
from checkstand.subscriptions.periods import add_months
from checkstand.subscriptions.proration import PlanLine

ONCE: Final = "once"
REPEATING: Final = "repeating"
FOREVER: Final = "forever"


def discounts_period(subscription: Subscription, period_start: datetime) -> bool:
    """Whether the coupon discounts a renewal of the period starting at ``period_start``: ``once`` only on the first
    charge after a trial (otherwise the checkout used it up)."""
    terms = subscription.discount
    if terms is None:
        return False
    duration = terms.get("duration") or ONCE
    if duration == ONCE:
        return period_start == subscription.trial_end
    return duration != REPEATING or period_start < _repeating_end(subscription)


def discounts_proration(subscription: Subscription, instant: datetime) -> bool:
    """Whether the coupon discounts what a plan change prorates at ``instant``: a ``once`` coupon was used by the
    first charge, a repeating one lasts its months."""
    terms = subscription.discount
    if terms is None:
        return False
    duration = terms.get("duration") or ONCE
    if duration == ONCE:
        return False
    return duration != REPEATING or instant < _repeating_end(subscription)


def amounts_off(subscription: Subscription, plan: Sequence[PlanLine]) -> tuple[int, ...]:
    """What the coupon takes off each line of ``plan`` for a whole period (as a renewal invoice shares it among its
    lines); nothing when there is no coupon, or it is restricted to products the plan doesn't sell, or takes an
    amount off in another currency."""
    if subscription.discount is None or not plan:
        return tuple(0 for _ in plan)
    coupon = Coupon(**subscription.discount)
    priced = [maths.Line(line.amount_atom, line.product_id) for line in plan]
    try:
        return maths.compute_discount(coupon, priced, subscription.currency).line_amounts_atom
    except BusinessRuleViolation:
        return tuple(0 for _ in plan)


def _repeating_end(subscription: Subscription) -> datetime:
    terms = subscription.discount or {}
    started = subscription.trial_start or subscription.billing_anchor or subscription.current_period_start
    return add_months(started, int(terms.get("duration_in_months") or 0))
