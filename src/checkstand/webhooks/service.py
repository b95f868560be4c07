"""Reading what became of an event's deliveries, an endpoint's delivery log, and the state of the delivery queue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core.errors import NotFound
from checkstand.core.pagination import Page, PageParams, paginate
from checkstand.events.models import Event
from checkstand.events.service import get_event
from checkstand.webhooks.models import PENDING, WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint


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


@dataclass(frozen=True)
class LoggedDelivery:
    """A delivery as an endpoint's log shows it: its event's type and every request made for it."""

    delivery: WebhookDelivery
    event_type: str
    attempts: Sequence[WebhookDeliveryAttempt]


async def endpoint_log(
    session: AsyncSession, account_id: str, endpoint_id: str, page: PageParams
) -> Page[LoggedDelivery]:
    """The endpoint's deliveries, newest first, each with its attempts first to last. The endpoint must be the
    account's (NotFound otherwise, as for a missing one)."""
    endpoint = await session.scalar(
        select(WebhookEndpoint.id).where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.account_id == account_id)
    )
    if endpoint is None:
        raise NotFound("webhook_endpoint", endpoint_id)
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.account_id == account_id, WebhookDelivery.endpoint_id == endpoint)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
    )
    deliveries = await paginate(session, query, page)
    ids = [delivery.id for delivery in deliveries.items]
    types: dict[str, str] = {}
    attempts: dict[str, list[WebhookDeliveryAttempt]] = {delivery_id: [] for delivery_id in ids}
    if ids:
        event_ids = [delivery.event_id for delivery in deliveries.items]
        rows = await session.execute(select(Event.id, Event.type).where(Event.id.in_(event_ids)))
        types = {event_id: event_type for event_id, event_type in rows}
        for attempt in await session.scalars(
            select(WebhookDeliveryAttempt)
            .where(WebhookDeliveryAttempt.delivery_id.in_(ids))
            .order_by(WebhookDeliveryAttempt.delivery_id, WebhookDeliveryAttempt.number)
        ):
            attempts[attempt.delivery_id].append(attempt)
    logged = [LoggedDelivery(d, types.get(d.event_id, ""), attempts[d.id]) for d in deliveries.items]
    return Page(items=logged, total=deliveries.total, limit=deliveries.limit, offset=deliveries.offset)
