"""Billing periods on the calendar, anchored to the subscription's first day.

A period of months ends on the anchor's day of the month, clamped to the month's length: from January 31, periods
end on February 29 (a leap year), March 31, April 30... Each end is computed from the anchor, never from the previous
end, because chaining clamped dates would drift (January 31 -> February 28 -> March 28 for good).
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta

MONTHS_PER_YEAR = 12


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` moved by whole calendar months, the day clamped to the target month's length (as Stripe bills:
    January 31 plus one month is February 28, or 29 in a leap year)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def add_interval(moment: datetime, interval: str, count: int) -> datetime:
    """The end of one billing period of ``count`` times ``interval`` starting at ``moment``."""
    if interval == "day":
        return moment + timedelta(days=count)
    if interval == "week":
        return moment + timedelta(weeks=count)
    if interval == "month":
        return add_months(moment, count)
    if interval == "year":
        return add_months(moment, MONTHS_PER_YEAR * count)
    raise ValueError(f"unknown billing interval {interval!r}")


def next_period_end(anchor: datetime, interval: str, count: int, period_end: datetime) -> datetime:
    """The end of the period that starts at ``period_end``, counted from ``anchor``: the first anchored end after
    ``period_end``. Days and weeks have no month ends to clamp, so they simply add up."""
    if interval not in ("month", "year"):
        return add_interval(period_end, interval, count)
    step = count * (MONTHS_PER_YEAR if interval == "year" else 1)
    months = (period_end.year - anchor.year) * MONTHS_PER_YEAR + period_end.month - anchor.month
    # Whole steps from the anchor up to the current end, then one more; the loop absorbs a clamped end that
    # falls in an earlier month than its step would say (never more than once).
    steps = max(months // step, 0)
    end = add_months(anchor, step * steps)
    while end <= period_end:
        steps += 1
        end = add_months(anchor, step * steps)
    return end


def periods_between(anchor: datetime, period_start: datetime, interval: str, count: int) -> int:
    """How many whole billing periods of ``count`` times ``interval`` lie between the anchor and the start of a
    period on the anchored calendar (months counted as months, so a clamped day changes nothing)."""
    if interval in ("month", "year"):
        step = count * (MONTHS_PER_YEAR if interval == "year" else 1)
        months = (period_start.year - anchor.year) * MONTHS_PER_YEAR + period_start.month - anchor.month
        return max(months // step, 0)
    return max((period_start - anchor) // (add_interval(anchor, interval, count) - anchor), 0)


def term_end(anchor: datetime, period_start: datetime, interval: str, count: int, term_periods: int) -> datetime:
    """The end of the contract term of ``term_periods`` billing periods that the period starting at ``period_start``
    belongs to. Terms are counted from the anchor as periods are, so the k-th term ends on the k·N-th period's end
    (January 31 and a 3-month term: April 30, July 31...)."""
    terms = periods_between(anchor, period_start, interval, count) // term_periods + 1
    periods = terms * term_periods
    if interval in ("month", "year"):
        return add_months(anchor, periods * count * (MONTHS_PER_YEAR if interval == "year" else 1))
    return anchor + periods * (add_interval(anchor, interval, count) - anchor)
