"""Pausing and resuming collection, as Stripe's ``pause_collection``: a paused subscription keeps its periods but
is charged nothing until it is resumed, by hand or at ``resumes_at``.

Only a subscription in good standing (active or trialing) can pause: pausing a past-due one would hide a debt the
dunning schedule is collecting. Resuming puts it back to trialing while its trial runs, active otherwise.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core.errors import Conflict, InvalidFields
from checkstand.events.service import record_event, snapshot
from checkstand.subscriptions.models import ACTIVE, PAUSED, TRIALING, Subscription
from checkstand.subscriptions.service import locked_subscription, require_not_canceled
from checkstand.subscriptions.timing import now_for

PAUSABLE = (ACTIVE, TRIALING)


async def pause(
    session: AsyncSession, account_id: str, subscription_id: str, *, resumes_at: datetime | None = None
) -> Subscription:
    """Pause collection now; ``resumes_at`` (in the subscription's future) lets the worker resume it by itself.
    Records ``subscription.paused``."""
    subscription = await locked_subscription(session, account_id, subscription_id)
    require_not_canceled(subscription)
    if subscription.status == PAUSED:
        raise Conflict(f"Subscription {subscription.id} is already paused.", code="subscription_paused")
    if subscription.status not in PAUSABLE:
        raise Conflict(
            f"Subscription {subscription.id} is {subscription.status}: only an active or trialing subscription can "
            "be paused.",
            code="subscription_not_pausable",
        )
    now = await now_for(session, subscription)
    if resumes_at is not None and resumes_at <= now:
        raise InvalidFields.one(("resumes_at",), "must be in the future")
    before = snapshot(subscription)
    subscription.status = PAUSED
    subscription.paused_at = now
    subscription.resumes_at = resumes_at
    await session.flush()
    await record_event(session, account_id=account_id, type="subscription.paused", obj=subscription, before=before)
    return subscription


async def resume(session: AsyncSession, account_id: str, subscription_id: str) -> Subscription:
    """Collect again from now on: trialing if the trial is still running, else active. Records
    ``subscription.resumed``."""
    subscription = await locked_subscription(session, account_id, subscription_id)
    require_not_canceled(subscription)
    if subscription.status != PAUSED:
        raise Conflict(f"Subscription {subscription.id} is not paused.", code="subscription_not_paused")
    now = await now_for(session, subscription)
    before = snapshot(subscription)
    trial_end = subscription.trial_end
    subscription.status = TRIALING if trial_end is not None and now < trial_end else ACTIVE
    subscription.paused_at = None
    subscription.resumes_at = None
    await session.flush()
    await record_event(session, account_id=account_id, type="subscription.resumed", obj=subscription, before=before)
    return subscription
