"""The payment flow's operator-set times and limits, read once from the settings and carried by the
:class:`~checkstand.payments.adapters.Gateway`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from checkstand.payments.dunning import DunningPolicy
from checkstand.payments.rate_limits import RateLimits, fingerprint_key
from checkstand.settings import Settings


@dataclass(frozen=True)
class PaymentPolicy:
    attempt_lease: timedelta
    """How long an attempt's process is presumed alive without renewing the attempt's lease (:mod:`leases`)."""
    challenge_timeout: timedelta
    """How long a customer has for a 3-D Secure challenge. Until then the attempt holds the session (a second payment
    could otherwise succeed beside it); after it, recovery asks the processor once more and fails the attempt if the
    challenge is still undecided, so the session can be paid again."""
    rate_limits: RateLimits
    processor_allow_private_urls: bool = False
    """Whether a Stripe connection may reach loopback, private or metadata addresses, or plain http
    (``CHECKSTAND_PROCESSOR_ALLOW_PRIVATE_URLS``: localstripe in tests); checked on every request it makes."""
    dunning: DunningPolicy = field(default_factory=DunningPolicy)
    """When a renewal whose payment failed is retried, and what the last failure does (``CHECKSTAND_DUNNING_*``)."""
    usage_grace: timedelta = timedelta(0)
    """How long after its period's end a subscription with a metered price is invoiced, so usage reported late for
    the period is billed with it (``CHECKSTAND_USAGE_GRACE_SECONDS``)."""

    @classmethod
    def of(cls, settings: Settings) -> PaymentPolicy:
        return cls(
            attempt_lease=timedelta(seconds=settings.attempt_lease_seconds),
            challenge_timeout=timedelta(seconds=settings.challenge_timeout_seconds),
            rate_limits=RateLimits(
                window=timedelta(seconds=settings.confirm_rate_window_seconds),
                max_failed_per_session=settings.confirm_max_failed_per_session,
                max_failed_per_ip=settings.confirm_max_failed_per_ip,
                max_failed_per_card=settings.confirm_max_failed_per_card,
                fingerprint_key=fingerprint_key(settings.resolved_secret_key),
            ),
            processor_allow_private_urls=settings.processor_allow_private_urls,
            dunning=DunningPolicy.of(settings),
            usage_grace=timedelta(seconds=settings.usage_grace_seconds),
        )
