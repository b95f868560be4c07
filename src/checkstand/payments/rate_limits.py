"""Confirm rate limits against card testing, counted in the database so every API process shares them: a session
stops taking attempts after ``max_failed_per_session`` failures in the window, a client IP after
``max_attempts_per_ip`` attempts on any session (:class:`RateLimits`, from the ``CHECKSTAND_CONFIRM_*`` settings)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout.models import CheckoutSession
from checkstand.core import clock
from checkstand.core.errors import RateLimited
from checkstand.payments.models import FAILED, CheckoutAttempt


@dataclass(frozen=True)
class RateLimits:
    """The limits in force, from the settings."""

    window: timedelta
    max_failed_per_session: int
    max_attempts_per_ip: int


async def check_rate_limits(
    session: AsyncSession, checkout: CheckoutSession, client_ip: str | None, limits: RateLimits
) -> None:
    """Raises :class:`RateLimited` (429) when the session or the client IP has had too many attempts lately."""
    since = clock.now() - limits.window
    failed = await session.scalar(
        select(func.count())
        .select_from(CheckoutAttempt)
        .where(
            CheckoutAttempt.checkout_session_id == checkout.id,
            CheckoutAttempt.state == FAILED,
            CheckoutAttempt.created_at >= since,
        )
    )
    if (failed or 0) >= limits.max_failed_per_session:
        raise RateLimited("Too many failed payments for this checkout; try again later.", code="too_many_attempts")
    if client_ip is None:
        return
    from_ip = await session.scalar(
        select(func.count())
        .select_from(CheckoutAttempt)
        .where(CheckoutAttempt.client_ip == client_ip, CheckoutAttempt.created_at >= since)
    )
    if (from_ip or 0) >= limits.max_attempts_per_ip:
        raise RateLimited("Too many payment attempts; try again later.", code="too_many_attempts")
