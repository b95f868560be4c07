"""Reading what became of an event's deliveries, and the state of the delivery queue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.events.service import get_event
from checkstand.webhooks.models import PENDING, WebhookDelivery, WebhookEndpoint


async def event_deliveries(
    session: AsyncSession, account_id: str, event_id: str
) -> Sequence[tuple[WebhookDelivery, str]]:
    """The event's deliveries, each with its endpoint's URL, oldest first."""
    event = await get_event(session, account_id, event_id)
    rows = await session.execute(
        select(WebhookDelivery, WebhookEndpoint.url)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.account_id == account_id, WebhookDelivery.event_id == event.id)
        .order_by(WebhookDelivery.created_at, WebhookDelivery.id)
    )
    return [(delivery, url) for delivery, url in rows]


@dataclass(frozen=True)
class DeliveryQueue:
    """The pending deliveries of every account: how many, how many due now, the oldest and the most overdue."""

    pending: int
    due: int
    oldest_created_at: datetime | None
    earliest_due_at: datetime | None


async def delivery_queue(session: AsyncSession, now: datetime) -> DeliveryQueue:
    pending, due, oldest, earliest = (
        await session.execute(
            select(
                func.count(),
                func.count().filter(WebhookDelivery.next_attempt_at <= now),
                func.min(WebhookDelivery.created_at),
                func.min(WebhookDelivery.next_attempt_at),
            ).where(WebhookDelivery.status == PENDING)
        )
    ).one()
    return DeliveryQueue(pending, due, oldest, earliest)
