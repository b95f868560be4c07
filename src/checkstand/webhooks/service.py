"""Reading what became of an event's deliveries."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.events.service import get_event
from checkstand.webhooks.models import WebhookDelivery, WebhookEndpoint


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
