"""Billing periods on the calendar: a month from the 31st ends on the month's last day, never via a float."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkstand.subscriptions.periods import add_interval, add_months

moments = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2999, 12, 31), timezones=st.just(UTC))


def test_january_31_plus_one_month_is_the_end_of_february() -> None:
    assert add_months(datetime(2027, 1, 31, 9, 30, tzinfo=UTC), 1) == datetime(2027, 2, 28, 9, 30, tzinfo=UTC)
    assert add_months(datetime(2028, 1, 31, 9, 30, tzinfo=UTC), 1) == datetime(2028, 2, 29, 9, 30, tzinfo=UTC)
    assert add_interval(datetime(2028, 2, 29, tzinfo=UTC), "year", 1) == datetime(2029, 2, 28, tzinfo=UTC)


@given(moments, st.sampled_from(["month", "year"]), st.integers(min_value=1, max_value=36))
def test_month_and_year_periods_end_in_the_right_calendar_month(start: datetime, interval: str, count: int) -> None:
    end = add_interval(start, interval, count)
    months = count * (12 if interval == "year" else 1)
    index = start.month - 1 + months
    assert (end.year, end.month) == (start.year + index // 12, index % 12 + 1)
    assert end.day == min(start.day, calendar.monthrange(end.year, end.month)[1])
    assert (end.hour, end.minute, end.second, end.microsecond, end.tzinfo) == (
        start.hour,
        start.minute,
        start.second,
        start.microsecond,
        start.tzinfo,
    )
    assert type(end) is datetime


@given(moments, st.sampled_from([("day", 1), ("week", 7)]), st.integers(min_value=1, max_value=156))
def test_day_and_week_periods_are_exact_durations(start: datetime, unit: tuple[str, int], count: int) -> None:
    interval, days = unit
    assert add_interval(start, interval, count) - start == timedelta(days=days * count)


def test_an_unknown_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="fortnight"):
        add_interval(datetime(2027, 1, 1, tzinfo=UTC), "fortnight", 1)
