"""Confirm rate limits against card testing, counted in the database so every API process shares them.

Only failed payments count: a shop behind a load balancer or a carrier's NAT shares one client IP among many honest
customers, and their successes must never hold each other back. Within the window, a checkout session stops taking
attempts after ``max_failed_per_session`` failures, a client IP after ``max_failed_per_ip`` on any session, and a card
after ``max_failed_per_card`` on any session from any address (a card tester rotating sessions and proxies still
tries the same cards). A card is known by its fingerprint: an HMAC of its number under a key derived from
``CHECKSTAND_SECRET_KEY``, so the stored value can't be turned back into the number by trying every number there is
(:class:`RateLimits`, from the ``CHECKSTAND_CONFIRM_*`` settings).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout.models import CheckoutSession
from checkstand.core import clock
from checkstand.core.errors import RateLimited
from checkstand.payments.models import FAILED, CheckoutAttempt
from checkstand.processors.base import PaymentMethod

_FINGERPRINT_LABEL: Final = b"checkstand card fingerprint v1"


def fingerprint_key(secret_key: str) -> bytes:
    """A key of its own for fingerprints, so the at-rest key itself never hashes anything stored beside it."""
    return hmac.new(secret_key.encode(), _FINGERPRINT_LABEL, hashlib.sha256).digest()


@dataclass(frozen=True)
class RateLimits:
    """The limits in force, from the settings."""

    window: timedelta
    max_failed_per_session: int
    max_failed_per_ip: int
    max_failed_per_card: int
    fingerprint_key: bytes = field(repr=False)

    def card_fingerprint(self, method: PaymentMethod) -> str | None:
        """The same value for the same card number, whatever its expiry and security code (which card testers
        vary). A processor's payment method id stands for its card: the card behind it never reaches Checkstand.
        Rotating the secret key changes every fingerprint, which only forgets the current window."""
        if method.card is not None:
            subject = "card:" + "".join(ch for ch in method.card.number if ch.isdigit())
        elif method.processor_reference is not None:
            subject = "reference:" + method.processor_reference
        else:
            return None
        return hmac.new(self.fingerprint_key, subject.encode(), hashlib.sha256).hexdigest()


async def check_rate_limits(
    session: AsyncSession,
    checkout: CheckoutSession,
    client_ip: str | None,
    card_fingerprint: str | None,
    limits: RateLimits,
) -> None:
    """Raises :class:`RateLimited` (429) when the session, the client IP or the card failed too often lately."""
    since = clock.now() - limits.window
    checks: list[tuple[ColumnElement[bool], int, str]] = [
        (
            CheckoutAttempt.checkout_session_id == checkout.id,
            limits.max_failed_per_session,
            "Too many failed payments for this checkout; try again later.",
        )
    ]
    if client_ip is not None:
        checks.append(
            (
                CheckoutAttempt.client_ip == client_ip,
                limits.max_failed_per_ip,
                "Too many failed payments; try again later.",
            )
        )
    if card_fingerprint is not None:
        checks.append(
            (
                CheckoutAttempt.card_fingerprint == card_fingerprint,
                limits.max_failed_per_card,
                "Too many failed payments with this card; try again later.",
            )
        )
    for of, limit, message in checks:
        if await _failed(session, of, since) >= limit:
            raise RateLimited(message, code="too_many_attempts")


async def _failed(session: AsyncSession, of: ColumnElement[bool], since: datetime) -> int:
    """Served by the ``(..., state, created_at)`` indexes of migration 0028."""
    count = await session.scalar(
        select(func.count())
        .select_from(CheckoutAttempt)
        .where(of, CheckoutAttempt.state == FAILED, CheckoutAttempt.created_at >= since)
    )
    return count or 0
