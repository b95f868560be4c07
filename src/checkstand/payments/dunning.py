"""The dunning schedule: when a renewal whose payment failed is tried again, and what ends it.

As Stripe's Smart Retries with a fixed schedule: retries fall a set number of days after the first failure (which
is when the invoice was issued), and after the last one fails the settings say what happens to the subscription
(the SDK's ``subscription_status_on_failure``) and to the invoice (``invoice_status_on_failure``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from checkstand.settings import Settings

MARK_UNCOLLECTIBLE: Final = "mark_uncollectible"
LEAVE_OPEN: Final = "leave_open"


@dataclass(frozen=True)
class DunningPolicy:
    retry_days: tuple[int, ...] = (3, 5, 7)
    subscription_status_on_failure: str = "cancel"
    invoice_status_on_failure: str = MARK_UNCOLLECTIBLE
    # The SDK's ``settle_past_due_on_pm_update``: a replaced default payment method is charged for what is overdue.
    settle_past_due_on_pm_update: bool = True

    @classmethod
    def of(cls, settings: Settings) -> DunningPolicy:
        days = sorted({int(day) for day in settings.dunning_retry_days.split(",") if day.strip()})
        return cls(
            retry_days=tuple(days),
            subscription_status_on_failure=settings.dunning_subscription_on_failure,
            invoice_status_on_failure=settings.dunning_invoice_on_failure,
            settle_past_due_on_pm_update=settings.dunning_settle_past_due_on_pm_update,
        )

    def next_attempt_at(self, first_failed_at: datetime, failed_attempts: int) -> datetime | None:
        """When to try again after ``failed_attempts`` failures, or None when the schedule is exhausted."""
        if failed_attempts > len(self.retry_days):
            return None
        return first_failed_at + timedelta(days=self.retry_days[failed_attempts - 1])
