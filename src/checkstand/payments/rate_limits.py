"""Confirm rate limits against card testing, counted in the database so every API process shares them: a session
stops taking attempts after :data:`MAX_FAILED_PER_SESSION` failures in :data:`RATE_WINDOW`, a client IP after
:data:`MAX_ATTEMPTS_PER_IP` attempts on any session."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout.models import CheckoutSession
from checkstand.core import clock
from checkstand.core.errors import RateLimited
from checkstand.payments.models import FAILED, CheckoutAttempt

RATE_WINDOW: Final = timedelta(minutes=10)
MAX_FAILED_PER_SESSION: Final = 10
MAX_ATTEMPTS_PER_IP: Final = 30


async def check_rate_limits(session: AsyncSession, checkout: CheckoutSession, client_ip: str | None) -> None:
    """Raises :class:`RateLimited` (429) when the session or the client IP has had too many attempts lately."""
    since = clock.now() - RATE_WINDOW
    failed = await session.scalar(
        select(func.count())
        .select_from(CheckoutAttempt)
        .where(
            CheckoutAttempt.checkout_session_id == checkout.id,
            CheckoutAttempt.state == FAILED,
            CheckoutAttempt.created_at >= since,
        )
    )
    if (failed or 0) >= MAX_FAILED_PER_SESSION:
        raise RateLimited("Too many failed payments for this checkout; try again later.", code="too_many_attempts")
    if client_ip is None:
        return
    from_ip = await session.scalar(
        select(func.count())
        .select_from(CheckoutAttempt)
        .where(CheckoutAttempt.client_ip == client_ip, CheckoutAttempt.created_at >= since)
    )
    if (from_ip or 0) >= MAX_ATTEMPTS_PER_IP:
        raise RateLimited("Too many payment attempts; try again later.", code="too_many_attempts")
