"""A subscription's coupon on its prorations: the engine prorates each line from its discounted amount (exact cases,
and Hypothesis: with a forever percent coupon, what the customer paid over a period equals a per-second meter of the
discounted plans within one minor unit per change, and no credit exceeds what was paid), and
``preview_plan_change`` takes the coupon's terms (forever, repeating while its months last, once never)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.discounts import maths
from checkstand.discounts.models import Coupon
from checkstand.subscriptions.periods import add_months
from checkstand.subscriptions.plan_changes import current_plan, preview_plan_change
from checkstand.subscriptions.proration import PlanLine, prorate
from tests.shop import Shop
from tests.subscriptions.factory import new_subscription, recurring_price
from tests.subscriptions.test_proration import APRIL_END, CURRENCIES, PERIOD_DAYS, START, at_day, line


def percent_off(bp: int, plan: Sequence[PlanLine], currency: str) -> tuple[int, ...]:
    """What a percent coupon takes off each line of ``plan`` per period, as a renewal invoice shares it."""
    coupon = Coupon(discount_type="percent_off", percent_off_bp=bp)
    return maths.compute_discount(coupon, [maths.Line(entry.amount_atom) for entry in plan], currency).line_amounts_atom


def test_a_twenty_percent_coupon_makes_the_credit_and_the_charge_twenty_percent_less() -> None:
    basic, pro = [line("basic", 1000)], [line("pro", 3000)]
    proration = prorate(
        basic,
        pro,
        currency="usd",
        period_start=START,
        period_end=APRIL_END,
        at=at_day(15),
        old_off=percent_off(2000, basic, "usd"),
        new_off=percent_off(2000, pro, "usd"),
    )
    assert [entry.amount_atom for entry in proration.lines] == [-400, 1200]
    assert (proration.credit_atom, proration.charge_atom, proration.net_atom) == (400, 1200, 800)
    assert proration.next_renewal_atom == 3000  # the plan's price as sold: the renewal takes its own discount


@pytest.mark.parametrize(("old_off", "new_off"), [((1001,), ()), ((-1,), ()), ((), (1, 2)), ((0, 0), ())])
def test_an_amount_off_outside_the_line_or_not_one_per_line_is_refused(
    old_off: tuple[int, ...], new_off: tuple[int, ...]
) -> None:
    with pytest.raises(ValueError, match="amount off"):
        prorate(
            [line("basic", 1000)],
            [line("pro", 3000)],
            currency="usd",
            period_start=START,
            period_end=APRIL_END,
            at=at_day(15),
            old_off=old_off,
            new_off=new_off,
        )


@st.composite
def discounted_periods(draw: st.DrawFn) -> tuple[str, int, int, list[list[PlanLine]], list[int]]:
    """A currency, a forever coupon's basis points, a period's length in seconds, one-item plans held in turn and
    the second each later one starts at."""
    currency = draw(st.sampled_from(sorted(CURRENCIES)))
    bp = draw(st.integers(0, 10_000))
    whole = draw(st.sampled_from(PERIOD_DAYS)) * 86_400
    top = 10 ** (5 + CURRENCIES[currency])
    plan = st.builds(
        lambda index, amount, quantity: [line(f"p{index}", amount, quantity)],
        st.integers(0, 3),
        st.integers(0, top),
        st.integers(1, 50),
    )
    plans = draw(st.lists(plan, min_size=2, max_size=8))
    instants = sorted(draw(st.lists(st.integers(0, whole), min_size=len(plans) - 1, max_size=len(plans) - 1)))
    return currency, bp, whole, plans, instants


@given(discounted_periods())
def test_with_a_forever_percent_coupon_the_customer_pays_what_a_meter_of_the_discounted_plans_bills(
    period: tuple[str, int, int, list[list[PlanLine]], list[int]],
) -> None:
    currency, bp, whole, plans, instants = period
    end = START + timedelta(seconds=whole)

    def billed(plan: Sequence[PlanLine]) -> int:
        """A period of ``plan`` as a renewal invoice bills it, the coupon off."""
        return sum(entry.amount_atom for entry in plan) - sum(percent_off(bp, plan, currency))

    paid = billed(plans[0])
    changes = 0
    for old, new, second in zip(plans[:-1], plans[1:], instants, strict=True):
        proration = prorate(
            old,
            new,
            currency=currency,
            period_start=START,
            period_end=end,
            at=START + timedelta(seconds=second),
            old_off=percent_off(bp, old, currency),
            new_off=percent_off(bp, new, currency),
        )
        assert proration.credit_atom <= paid, "a credit is never more than what was paid"
        assert all(entry.amount_atom >= 0 for entry in proration.lines if entry.description.startswith("Remaining"))
        paid += proration.net_atom
        changes += 1
    spans = zip([0, *instants], [*instants, whole], strict=True)
    meter = sum(
        (Fraction(billed(plan) * (stop - begin), whole) for plan, (begin, stop) in zip(plans, spans, strict=True)),
        Fraction(0),
    )
    assert abs(paid - meter) <= changes


QUARTER_OFF: dict[str, Any] = {
    "id": "coupon_x",
    "name": "Quarter off",
    "discount_type": "percent_off",
    "percent_off_bp": 2500,
    "amount_atom_off": None,
    "trial_days_off": None,
    "currency": None,
    "product_ids": None,
    "duration_in_months": None,
}


@pytest.mark.parametrize(
    ("terms", "started_months_ago", "discounted"),
    [
        ({"duration": "forever"}, 0, True),
        ({"duration": "repeating", "duration_in_months": 3}, 0, True),
        ({"duration": "repeating", "duration_in_months": 3}, 3, False),
        ({"duration": "once"}, 0, False),
        (None, 0, False),
    ],
)
async def test_a_plan_change_prorates_at_the_coupons_terms(
    session: AsyncSession,
    shop: Shop,
    terms: dict[str, Any] | None,
    started_months_ago: int,
    discounted: bool,
) -> None:
    product = await catalog.create_product(session, shop.account_id, name="Team")
    basic = await recurring_price(session, shop.account_id, product.id, amount=1000)
    pro = await recurring_price(session, shop.account_id, product.id, amount=3000)
    subscription = await new_subscription(session, shop.account_id, [basic])
    start, end = subscription.current_period_start, subscription.current_period_end
    subscription.billing_anchor = add_months(start, -started_months_ago)
    subscription.discount = None if terms is None else {**QUARTER_OFF, **terms}
    new = [PlanLine(pro, product.id, "Team", 1, 3000)]
    at = start + (end - start) / 2

    proration = await preview_plan_change(session, subscription, new, at=at)

    expected = prorate(current_plan(subscription), new, currency="usd", period_start=start, period_end=end, at=at)
    if discounted:
        # A quarter off both sides: 750 and 2250 a period, prorated.
        assert [entry.amount_atom for entry in proration.lines] == [
            round(Fraction(entry.amount_atom * 3, 4)) for entry in expected.lines
        ]
        assert proration.net_atom < expected.net_atom
    else:
        assert proration.lines == expected.lines
    await session.rollback()
