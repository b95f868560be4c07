"""The one source of "now" for the whole process, so tests move time instead of sleeping.

Every service and column default reads :func:`now`; a test installs a :class:`FrozenClock` with :func:`use`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta


_current: Clock = SystemClock()


def use(clock: Clock) -> Clock:
    """Install ``clock`` for the process; returns the one it replaces so a test can put it back."""
    global _current
    previous, _current = _current, clock
    return previous


def now() -> datetime:
    return _current.now()


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything Checkstand stores is UTC, so naive means UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
