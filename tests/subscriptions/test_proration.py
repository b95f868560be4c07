"""The proration engine: exact amounts for the common changes, and (Hypothesis) money conserved over any sequence of
plan and quantity changes in JPY, USD and KWD: what the customer paid over a period equals what a per-second meter of
the plans held bills, within half a minor unit per prorated line (so one per change of a one-item plan); credits
never exceed what was paid; only credit lines are negative."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkstand.subscriptions.proration import PlanLine, Proration, prorate

START = datetime(2026, 4, 1, tzinfo=UTC)
APRIL_END = datetime(2026, 5, 1, tzinfo=UTC)
CURRENCIES = {"jpy": 0, "usd": 2, "kwd": 3}
# Periods as the calendar makes them: February, a 30- and a 31-day month, a leap year.
PERIOD_DAYS = [28, 30, 31, 366]


def line(price_id: str, unit_amount_atom: int, quantity: int = 1) -> PlanLine:
    return PlanLine(price_id, f"prod_{price_id}", price_id.title(), quantity, unit_amount_atom)


def at_day(days: float) -> datetime:
    return START + timedelta(days=days)


def test_basic_to_pro_after_15_of_30_days_charges_the_difference_for_half_the_period() -> None:
    proration = prorate(
        [line("basic", 1000)],
        [line("pro", 3000)],
        currency="usd",
        period_start=START,
        period_end=APRIL_END,
        at=at_day(15),
    )
    assert [entry.amount_atom for entry in proration.lines] == [-500, 1500]
    assert (proration.credit_atom, proration.charge_atom, proration.net_atom) == (500, 1500, 1000)
    assert (proration.next_renewal_atom, proration.next_renewal_at) == (3000, APRIL_END)
    assert proration.amount_due_atom == 1000


def test_an_amount_is_exact_to_the_second_and_rounded_half_even_once_per_line() -> None:
    # 1000 * 1_296_001 / 2_592_000 = 500.0003...: a second more of unused time is not a cent more.
    proration = prorate(
        [line("basic", 1000)],
        [line("pro", 3000)],
        currency="usd",
        period_start=START,
        period_end=APRIL_END,
        at=at_day(15) - timedelta(seconds=1),
    )
    assert [entry.amount_atom for entry in proration.lines] == [-500, 1500]
    # 25 * 1_296_000 / 2_592_000 = 12.5 rounds to the even 12; 75 * ... = 37.5 to 38.
    half = prorate(
        [line("a", 25)], [line("b", 75)], currency="usd", period_start=START, period_end=APRIL_END, at=at_day(15)
    )
    assert [entry.amount_atom for entry in half.lines] == [-12, 38]


def test_a_downgrade_nets_a_credit_and_charges_nothing_now() -> None:
    proration = prorate(
        [line("pro", 3000)],
        [line("basic", 1000)],
        currency="usd",
        period_start=START,
        period_end=APRIL_END,
        at=at_day(15),
    )
    assert proration.net_atom == -1000
    assert proration.amount_due_atom == 0


def test_seats_one_to_three_charges_two_seats_for_the_rest_of_the_period() -> None:
    proration = prorate(
        [line("seat", 1000, 1)],
        [line("seat", 1000, 3)],
        currency="usd",
        period_start=START,
        period_end=APRIL_END,
        at=at_day(10),
    )
    # 20 of 30 days left: credit 1 seat (667), charge 3 seats (2000).
    assert [entry.amount_atom for entry in proration.lines] == [-667, 2000]
    assert proration.net_atom == 1333


def test_unchanged_lines_are_left_out() -> None:
    proration = prorate(
        [line("base", 1000), line("addon", 500)],
        [line("base", 1000), line("addon", 500, 2)],
        currency="usd",
        period_start=START,
        period_end=APRIL_END,
        at=at_day(15),
    )
    assert [(entry.price_id, entry.amount_atom) for entry in proration.lines] == [("addon", -250), ("addon", 500)]


def test_an_interval_change_credits_the_unused_time_and_charges_a_whole_new_period() -> None:
    year_end = datetime(2027, 4, 16, tzinfo=UTC)
    proration = prorate(
        [line("monthly", 1000)],
        [line("yearly", 10000)],
        currency="usd",
        period_start=START,
        period_end=APRIL_END,
        at=at_day(15),
        new_period_end=year_end,
    )
    assert [entry.amount_atom for entry in proration.lines] == [-500, 10000]
    assert proration.lines[1].period_end == year_end
    assert (proration.net_atom, proration.next_renewal_atom, proration.next_renewal_at) == (9500, 10000, year_end)


@pytest.mark.parametrize(
    ("at", "new_period_end"),
    [(START - timedelta(seconds=1), None), (APRIL_END + timedelta(seconds=1), None), (at_day(3), at_day(2))],
)
def test_an_instant_outside_the_period_is_refused(at: datetime, new_period_end: datetime | None) -> None:
    with pytest.raises(ValueError, match="period"):
        prorate(
            [line("a", 100)],
            [line("b", 200)],
            currency="usd",
            period_start=START,
            period_end=APRIL_END,
            at=at,
            new_period_end=new_period_end,
        )


def test_as_dict_is_json_ready() -> None:
    stored = prorate(
        [line("basic", 1000)],
        [line("pro", 3000)],
        currency="USD",
        period_start=START,
        period_end=APRIL_END,
        at=at_day(15),
    ).as_dict()
    assert stored["currency"] == "usd"
    assert stored["amount_due_atom"] == 1000
    assert stored["next_renewal_at"] == "2026-05-01T00:00:00+00:00"
    assert stored["lines"][0] == {
        "description": "Unused time on 1 x Basic",
        "price_id": "basic",
        "quantity": 1,
        "amount_atom": -500,
        "period_start": "2026-04-16T00:00:00+00:00",
        "period_end": "2026-05-01T00:00:00+00:00",
    }


# --- Money conserved (Hypothesis) -----------------------------------------------------------------------------------


@st.composite
def billing_periods(draw: st.DrawFn, max_lines: int) -> tuple[str, int, list[list[PlanLine]], list[int]]:
    """A currency, a period's length in seconds, the plans held in turn (the first from the start) and the second
    each later one starts at (non-decreasing, within the period)."""
    currency = draw(st.sampled_from(sorted(CURRENCIES)))
    whole = draw(st.sampled_from(PERIOD_DAYS)) * 86_400
    top = 10 ** (5 + CURRENCIES[currency])
    catalog = draw(st.lists(st.integers(0, top), min_size=1, max_size=4))
    plan = st.lists(
        st.builds(
            lambda index, quantity: line(f"p{index}", catalog[index], quantity),
            st.integers(0, len(catalog) - 1),
            st.integers(1, 50),
        ),
        min_size=1,
        max_size=max_lines,
    )
    plans = draw(st.lists(plan, min_size=2, max_size=8))
    instants = sorted(draw(st.lists(st.integers(0, whole), min_size=len(plans) - 1, max_size=len(plans) - 1)))
    return currency, whole, plans, instants


def run(
    currency: str, whole: int, plans: list[list[PlanLine]], instants: list[int]
) -> tuple[int, Fraction, list[Proration]]:
    """Bill the period: the first plan in full at the start, then each change's net. Answers what was paid, what a
    per-second meter bills for the plans held, and the changes."""
    end = START + timedelta(seconds=whole)
    paid = cost(plans[0])
    changes = []
    for old, new, second in zip(plans[:-1], plans[1:], instants, strict=True):
        proration = prorate(
            old, new, currency=currency, period_start=START, period_end=end, at=START + timedelta(seconds=second)
        )
        assert proration.credit_atom <= paid, "a credit is never more than what was paid"
        paid += proration.net_atom
        changes.append(proration)
    spans = zip([0, *instants], [*instants, whole], strict=True)
    meter = sum(
        (Fraction(cost(plan) * (stop - begin), whole) for plan, (begin, stop) in zip(plans, spans, strict=True)),
        Fraction(0),
    )
    return paid, meter, changes


def cost(plan: Sequence[PlanLine]) -> int:
    return sum(entry.amount_atom for entry in plan)


@given(billing_periods(max_lines=1))
def test_one_item_plans_pay_what_a_meter_bills_within_one_minor_unit_per_change(
    period: tuple[str, int, list[list[PlanLine]], list[int]],
) -> None:
    paid, meter, changes = run(*period)
    assert abs(paid - meter) <= len(changes)


@given(billing_periods(max_lines=4))
def test_any_plans_pay_what_a_meter_bills_within_half_a_minor_unit_per_line(
    period: tuple[str, int, list[list[PlanLine]], list[int]],
) -> None:
    paid, meter, changes = run(*period)
    assert 2 * abs(paid - meter) <= sum(len(change.lines) for change in changes)
    for change in changes:
        for entry in change.lines:
            if entry.description.startswith("Unused time"):
                assert -entry.quantity * max(plan_unit(period[2], entry.price_id)) <= entry.amount_atom <= 0
            else:
                assert entry.amount_atom >= 0
        assert change.credit_atom >= 0
        assert change.charge_atom >= 0
        assert change.net_atom == change.charge_atom - change.credit_atom


def plan_unit(plans: list[list[PlanLine]], price_id: str | None) -> list[int]:
    return [entry.unit_amount_atom for plan in plans for entry in plan if entry.price_id == price_id]


def test_a_proration_and_its_plan_read_back_from_what_they_stored() -> None:
    plan = [line("basic", 1000, 2)]
    proration = prorate(
        plan, [line("pro", 3000)], currency="usd", period_start=START, period_end=APRIL_END, at=at_day(9)
    )
    assert Proration.from_dict(proration.as_dict()) == proration
    assert [PlanLine.from_dict(entry.as_dict()) for entry in plan] == plan
