"""A subscription's next lifecycle action with its debts taken into account: the oldest overdue invoice (and when
dunning tries it again) is the invoices module's to find; the decision itself is the subscription's
(:func:`checkstand.subscriptions.next_action.decide`)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.invoices.models import PAST_DUE, Invoice
from checkstand.settings import Settings
from checkstand.subscriptions.next_action import NextAction, Overdue, decide
from checkstand.subscriptions.service import get_subscription
from checkstand.subscriptions.timing import now_for


def dunning_behavior(settings: Settings) -> str:
    """What ends a dunning that never succeeds, named as the SDK's ``dunning_behavior`` values are (what happens to
    the subscription, then to the invoice): ``cancel_and_uncollectible`` by default."""
    invoice = "uncollectible" if settings.dunning_invoice_on_failure == "mark_uncollectible" else "open"
    return f"{settings.dunning_subscription_on_failure}_and_{invoice}"


async def next_action(session: AsyncSession, account_id: str, subscription_id: str, settings: Settings) -> NextAction:
    """Reads only."""
    subscription = await get_subscription(session, account_id, subscription_id)
    oldest = await session.scalar(
        select(Invoice)
        .where(
            Invoice.account_id == account_id,
            Invoice.subscription_id == subscription.id,
            Invoice.status == PAST_DUE,
        )
        .order_by(Invoice.created_at, Invoice.id)
        .limit(1)
    )
    overdue = Overdue(oldest.id, oldest.next_attempt_at) if oldest is not None else None
    usage_grace = timedelta(seconds=settings.usage_grace_seconds)
    return decide(subscription, await now_for(session, subscription), overdue, dunning_behavior(settings), usage_grace)
