"""What billing does to a subscription: a period paid (renewed, a trial converted, an overdue period settled), a
renewal failing (past due), dunning given up (canceled or unpaid), a scheduled end reached, a paused period passing,
collection resuming, and the trial-ending notice. Each change records its event in the caller's transaction.

The billing engine (:mod:`checkstand.payments.renewals`) decides when; these say what changes. Every function takes
``now``, the subscription's customer's time (a test clock's, for a customer on one), and the subscription locked.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, case, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog.models import METERED, Price
from checkstand.core.lookup import locked, one_or_not_found
from checkstand.db import seconds_between
from checkstand.events.service import record_event, snapshot
from checkstand.subscriptions.models import (
    ACTIVE,
    CANCELED,
    PAST_DUE,
    PAUSED,
    TRIALING,
    UNPAID,
    Subscription,
    SubscriptionItem,
)

# Subscriptions whose periods still run (a paused one advances with nothing charged).
RUNNING: Final = frozenset({ACTIVE, TRIALING, PAUSED})
# Those a paid period brings back to (or keeps) active.
PAYABLE: Final = frozenset({ACTIVE, TRIALING, PAUSED, PAST_DUE, UNPAID})
# After the last dunning retry fails (the SDK's ``subscription_status_on_failure``).
END_CANCEL: Final = "cancel"
END_UNPAID: Final = "unpaid"


async def lock_subscription(session: AsyncSession, account_id: str, subscription_id: str) -> Subscription:
    """The subscription with its row locked and re-read, so concurrent billing steps see each other's result."""
    return await one_or_not_found(
        session,
        locked(select(Subscription).where(Subscription.account_id == account_id, Subscription.id == subscription_id)),
        "subscription",
        subscription_id,
    )


def converts_trial(subscription: Subscription) -> bool:
    """Whether the subscription's next charge ends its trial: a trialing subscription's current period is its first
    paid one, starting when the trial ends, and is billed then (not at its end)."""
    return subscription.status == TRIALING and subscription.current_period_start == subscription.trial_end


def renewal_due_at(subscription: Subscription) -> datetime:
    """When the next period is billed: the trial's end for a trial, else the current period's end."""
    return subscription.current_period_start if converts_trial(subscription) else subscription.current_period_end


# :func:`converts_trial` and :func:`renewal_due_at` in SQL, for the worker's queries.
CONVERTS_TRIAL: Final = (Subscription.status == TRIALING) & (
    Subscription.current_period_start == Subscription.trial_end
)
RENEWAL_DUE_AT: Final = case((CONVERTS_TRIAL, Subscription.current_period_start), else_=Subscription.current_period_end)
# :func:`bills_usage` in SQL.
BILLS_USAGE: Final = exists(
    select(SubscriptionItem.id)
    .join(Price, Price.id == SubscriptionItem.price_id)
    .where(SubscriptionItem.subscription_id == Subscription.id, Price.usage_type == METERED)
)


def bills_usage(subscription: Subscription) -> bool:
    """Whether the subscription has a metered item: its renewal invoices bill that item's usage in arrears."""
    return any(item.price.usage_type == METERED for item in subscription.items)


def owes_usage(subscription: Subscription) -> bool:
    """Whether the subscription's next renewal bills usage: it has a metered item, and the renewal ends a period of
    use (a trial's conversion ends the trial, whose usage is not billed)."""
    return bills_usage(subscription) and not converts_trial(subscription)


def usage_wait(subscription: Subscription, grace: timedelta) -> timedelta:
    """How long after :func:`renewal_due_at` the renewal is made: one that bills usage (:func:`owes_usage`) waits
    ``grace`` for usage reported late for the period just ended."""
    return grace if owes_usage(subscription) else timedelta(0)


def renewal_due(customer_now: ColumnElement[Any], grace: timedelta) -> ColumnElement[bool]:
    """Whether a subscription's renewal is due at ``customer_now``, :func:`usage_wait` included, for the worker's
    queries."""
    waited = seconds_between(customer_now, RENEWAL_DUE_AT) >= grace.total_seconds()
    return (customer_now >= RENEWAL_DUE_AT) & (~BILLS_USAGE | CONVERTS_TRIAL | waited)


def usage_period_open(subscription: Subscription, now: datetime) -> bool:
    """Whether usage is still being reported for the period the next renewal invoice bills (it has not ended): that
    invoice can't be made yet without leaving the rest of the period's usage unbilled."""
    return owes_usage(subscription) and now < subscription.current_period_end


def _move_period(subscription: Subscription, period_start: datetime, period_end: datetime) -> None:
    if subscription.billing_anchor is None:
        subscription.billing_anchor = subscription.current_period_start
    subscription.current_period_start = period_start
    subscription.current_period_end = period_end


async def period_paid(
    session: AsyncSession, subscription: Subscription, period_start: datetime, period_end: datetime
) -> bool:
    """The period starting at ``period_start`` is paid: the subscription moves to it (a trial's first period is
    already the current one) and is active (a trial converted, a past-due one settled); records
    ``subscription.renewed``. A period the subscription has already
    moved past, or a subscription that ended meanwhile, changes nothing; says whether it moved."""
    if subscription.status not in PAYABLE:
        return False
    converted = converts_trial(subscription) and subscription.current_period_start == period_start
    if not converted and subscription.current_period_end != period_start:
        return False
    before = snapshot(subscription)
    if not converted:
        _move_period(subscription, period_start, period_end)
    if subscription.status != PAUSED:
        subscription.status = ACTIVE
    await session.flush()
    await record_event(
        session, account_id=subscription.account_id, type="subscription.renewed", obj=subscription, before=before
    )
    return True


async def period_skipped(
    session: AsyncSession, subscription: Subscription, period_start: datetime, period_end: datetime
) -> None:
    """A period of paused collection passes with nothing charged (its invoice is voided); records
    ``subscription.updated``."""
    before = snapshot(subscription)
    _move_period(subscription, period_start, period_end)
    await session.flush()
    await record_event(
        session, account_id=subscription.account_id, type="subscription.updated", obj=subscription, before=before
    )


async def mark_past_due(session: AsyncSession, subscription: Subscription) -> None:
    """A renewal's payment failed; dunning retries it. Records ``subscription.past_due`` once per overdue spell."""
    if subscription.status not in RUNNING:
        return
    before = snapshot(subscription)
    subscription.status = PAST_DUE
    await session.flush()
    await record_event(
        session, account_id=subscription.account_id, type="subscription.past_due", obj=subscription, before=before
    )


async def end_unpaid(session: AsyncSession, subscription: Subscription, behavior: str, now: datetime) -> None:
    """The last dunning retry failed: cancel (``subscription.canceled``) or leave it ``unpaid``
    (``subscription.updated``), as the dunning settings say. One already ended stays as it is."""
    if subscription.status in (CANCELED, UNPAID):
        return
    before = snapshot(subscription)
    if behavior == END_UNPAID:
        subscription.status = UNPAID
        await session.flush()
        await record_event(
            session, account_id=subscription.account_id, type="subscription.updated", obj=subscription, before=before
        )
        return
    subscription.status = CANCELED
    subscription.canceled_at = now
    subscription.ended_at = now
    subscription.cancel_at_period_end = False
    await session.flush()
    await record_event(
        session, account_id=subscription.account_id, type="subscription.canceled", obj=subscription, before=before
    )


async def end_at_period_end(session: AsyncSession, subscription: Subscription, now: datetime) -> None:
    """``cancel_at_period_end`` reached: canceled as of the period's end, not renewed; records
    ``subscription.canceled``."""
    before = snapshot(subscription)
    subscription.status = CANCELED
    subscription.canceled_at = now
    subscription.ended_at = subscription.current_period_end
    await session.flush()
    await record_event(
        session, account_id=subscription.account_id, type="subscription.canceled", obj=subscription, before=before
    )


async def resume_collection(session: AsyncSession, subscription: Subscription) -> None:
    """Paused collection ends (``resumes_at`` reached): the next renewal is charged again; records
    ``subscription.resumed``."""
    before = snapshot(subscription)
    subscription.paused_at = None
    subscription.resumes_at = None
    if subscription.status == PAUSED:
        subscription.status = ACTIVE
    await session.flush()
    await record_event(
        session, account_id=subscription.account_id, type="subscription.resumed", obj=subscription, before=before
    )


async def trial_ending(session: AsyncSession, subscription: Subscription, now: datetime) -> bool:
    """Record ``subscription.trial_will_end`` for the current trial, once; says whether it did now."""
    if subscription.status != TRIALING or subscription.trial_ending_notified_at is not None:
        return False
    subscription.trial_ending_notified_at = now
    await session.flush()
    await record_event(
        session, account_id=subscription.account_id, type="subscription.trial_will_end", obj=subscription
    )
    return True
