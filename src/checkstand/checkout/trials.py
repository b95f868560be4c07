"""What a session charges today when it sells a trial: nothing for its recurring part, which is first charged when
the trial ends, and its one-time part in full.

A tier's trial is its recurring lines' longest trial plus a trial-extension coupon's days, so such a coupon starts a
trial on a price that has none. While a trial is on, the tier's discount is shared among its lines as it is on an
invoice (:func:`checkstand.discounts.maths.compute_discount`), and only the one-time lines' part of it comes off
today's charge. A tier with nothing due today but a recurring price is paid by saving the payment method (a setup
at the processor), not by a charge.

Pure: it reads the session's line snapshots and coupon terms, never the clock or the database, so the page, both
views and the payment flow price a session alike. :func:`checkstand.checkout.service.price_tiers` keeps the primary
tier's answer in ``amount_due_today_atom`` beside the session's totals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from checkstand.checkout.models import CheckoutLineItem, CheckoutSession
from checkstand.core.errors import BusinessRuleViolation
from checkstand.discounts import maths
from checkstand.discounts.models import Coupon

TRIAL_EXTENSION: Final = maths.TRIAL_EXTENSION
# The key of a plan-change session's ``proration`` holding what of the customer's credit balance pays the amount due.
CREDIT_APPLIED: Final = "credit_balance_applied_atom"


@dataclass(frozen=True)
class TierDue:
    """What a tier costs over time: ``today_atom`` at checkout, then ``recurring_atom`` every period once the
    ``trial_days`` are over (the recurring lines after their part of the discount)."""

    today_atom: int
    recurring_atom: int
    trial_days: int

    @property
    def is_trial(self) -> bool:
        return self.trial_days > 0


def trial_days(checkout: CheckoutSession, tier: int) -> int:
    """The trial the tier's subscription starts with: its recurring lines' longest, plus a trial-extension coupon's
    days; none when the tier recurs nowhere."""
    recurring = [item for item in _items(checkout, tier) if item.recurring_interval is not None]
    if not recurring:
        return 0
    return max(item.trial_days for item in recurring) + _trial_days_off(checkout)


def tier_due(checkout: CheckoutSession, tier: int) -> TierDue:
    items = _items(checkout, tier)
    shares = _discount_shares(checkout, items)
    net = [item.amount_subtotal_atom - share for item, share in zip(items, shares, strict=True)]
    recurring = sum(amount for item, amount in zip(items, net, strict=True) if item.recurring_interval is not None)
    days = trial_days(checkout, tier)
    return TierDue(today_atom=sum(net) - (recurring if days else 0), recurring_atom=recurring, trial_days=days)


def amount_due_today(checkout: CheckoutSession, tier: int) -> int:
    """What paying the tier charges now: its total, less its recurring part while that is on trial; for a
    plan-change session, the proration's net when positive (a credit charges nothing now), less what the customer's
    credit balance pays of it."""
    if checkout.proration is not None:
        credit = int(checkout.proration.get(CREDIT_APPLIED, 0))
        return max(int(checkout.proration["net_atom"]), 0) - credit
    return tier_due(checkout, tier).today_atom


def sets_up(checkout: CheckoutSession, tier: int) -> bool:
    """Whether paying the tier saves the payment method and charges nothing: nothing due today, and a recurring
    price for later charges to pay."""
    recurs = any(item.recurring_interval is not None for item in _items(checkout, tier))
    return recurs and amount_due_today(checkout, tier) == 0


def _items(checkout: CheckoutSession, tier: int) -> list[CheckoutLineItem]:
    return [item for item in checkout.line_items if item.tier == tier]


def _trial_days_off(checkout: CheckoutSession) -> int:
    discount = checkout.discount
    if discount is None or discount.get("discount_type") != TRIAL_EXTENSION:
        return 0
    return int(discount.get("trial_days_off") or 0)


def _discount_shares(checkout: CheckoutSession, items: list[CheckoutLineItem]) -> tuple[int, ...]:
    """Each line's part of the tier's discount, as :func:`checkstand.checkout.service.price_tiers` totals it (a
    coupon that applies to none of a fallback tier's products takes nothing off it)."""
    if checkout.discount is None or not items:
        return tuple(0 for _ in items)
    coupon = Coupon(**checkout.discount)  # the terms as applied; transient, never added to a database session
    lines = [maths.Line(item.amount_subtotal_atom, item.product_id) for item in items]
    try:
        return maths.compute_discount(coupon, lines, checkout.currency).line_amounts_atom
    except BusinessRuleViolation:
        return tuple(0 for _ in items)
