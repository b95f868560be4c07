"""What a subscription's lifecycle does next, and when: the SDK's ``get-next-action`` decision, computed from the
subscription's state and dates (and its oldest overdue invoice, which the invoices module looks up).

The worker acts on the same dates; this answers a merchant (or a workflow engine) asking what will happen, without
changing anything. The order of the checks is the SDK's: terminal states stop; a debt is collected before anything
else; a scheduled end (``cancel_at_period_end``, or a contract term that does not renew) ends; otherwise the next date
in the subscription's life is scheduled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from checkstand.subscriptions.contracts import ends_at_renewal
from checkstand.subscriptions.lifecycle import usage_wait
from checkstand.subscriptions.models import (
    ACTIVE,
    CANCELED,
    INCOMPLETE,
    PAST_DUE,
    PAUSED,
    TRIALING,
    UNPAID,
    Subscription,
)

# ``subscription.trial_will_end`` goes out this long before a trial ends (at once when the trial is shorter).
TRIAL_NOTICE: Final = timedelta(days=3)

STOP: Final = "stop"
CANCEL: Final = "cancel"
SCHEDULE_BILLING: Final = "schedule_billing"
SCHEDULE_ACTIVATION: Final = "schedule_activation"
NOTIFY_TRIAL_ENDING: Final = "notify_trial_ending"
PROCESS_PAST_DUE: Final = "process_past_due"
APPLY_DUNNING_END_BEHAVIOR: Final = "apply_dunning_end_behavior"


@dataclass(frozen=True)
class Overdue:
    """The subscription's oldest unpaid invoice: when dunning tries it again, or None once the retries are spent."""

    invoice_id: str
    next_attempt_at: datetime | None


@dataclass(frozen=True)
class NextAction:
    """The SDK's ``NextActionResponse``."""

    action: str
    reason: str | None = None
    at: datetime | None = None
    invoice_id: str | None = None
    dunning_behavior: str | None = None


def decide(
    subscription: Subscription,
    now: datetime,
    overdue: Overdue | None,
    dunning_behavior: str,
    usage_grace: timedelta = timedelta(0),
) -> NextAction:
    """``now`` is the subscription's own (its customer's test clock, if any); ``dunning_behavior`` is what ends an
    unsuccessful dunning, as the account's settings say; a renewal that bills usage waits ``usage_grace`` after its
    period's end for usage reported late (:func:`checkstand.subscriptions.lifecycle.usage_wait`)."""
    status = subscription.status
    if status == CANCELED:
        return NextAction(STOP, reason="the subscription is canceled")
    if status == PAUSED:
        return NextAction(STOP, reason="collection is paused", at=subscription.resumes_at)
    if status in (UNPAID, INCOMPLETE):
        return NextAction(STOP, reason=f"the subscription is {status}; it waits for its invoice to be paid")
    if status == PAST_DUE or overdue is not None:
        if overdue is None:
            return NextAction(STOP, reason="past due with no open invoice")
        if overdue.next_attempt_at is None:
            return NextAction(
                APPLY_DUNNING_END_BEHAVIOR,
                reason="every dunning retry failed",
                at=now,
                invoice_id=overdue.invoice_id,
                dunning_behavior=dunning_behavior,
            )
        return NextAction(PROCESS_PAST_DUE, at=overdue.next_attempt_at, invoice_id=overdue.invoice_id)
    if (ending := ends_at_renewal(subscription)) is not None:
        return NextAction(CANCEL, reason=ending, at=subscription.current_period_end)
    if status == TRIALING and subscription.trial_end is not None:
        if subscription.trial_ending_notified_at is None and now < subscription.trial_end:
            return NextAction(NOTIFY_TRIAL_ENDING, at=max(subscription.trial_end - TRIAL_NOTICE, now))
        return NextAction(SCHEDULE_ACTIVATION, at=subscription.trial_end)
    if status == ACTIVE:
        return NextAction(SCHEDULE_BILLING, at=subscription.current_period_end + usage_wait(subscription, usage_grace))
    return NextAction(STOP, reason=f"nothing is scheduled for a {status} subscription")
