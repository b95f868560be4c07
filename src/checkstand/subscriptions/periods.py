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
