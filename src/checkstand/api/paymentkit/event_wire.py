"""The PaymentKit dialect's wire shape of an event: the SDK's ``Event``, which the events API answers with and a
webhook carries as its body.

An event's stored ``data`` is the domain's snapshot in PaymentKit's own field names (the native dialect), so this
dialect serves it as it is and only adds the envelope. Kept apart from the events router so the worker can render
webhook bodies without loading any HTTP route.
"""

from __future__ import annotations

from typing import Any

import pydantic_core
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.events.models import Event
from checkstand.webhooks.models import WebhookEndpoint


def wire_event(event: Event) -> dict[str, Any]:
    """The SDK's ``Event``: the whole object in ``data``, and for an update the changed attributes' old values in
    ``previous_data``."""
    return {
        "id": event.id,
        "type": event.type,
        "aggregate_type": event.aggregate_type,
        "aggregate_id": event.aggregate_id,
        "data": event.data,
        "previous_data": event.previous_data,
        "metadata": event.event_metadata,
        "correlation_id": event.correlation_id,
        "version": event.version,
        "created": event.created_at,
    }


async def webhook_body(session: AsyncSession, event: Event, endpoint: WebhookEndpoint) -> bytes:
    """What a PaymentKit webhook endpoint receives: exactly what ``GET events/{id}`` answers, the same for every
    endpoint and read from the event alone."""
    return pydantic_core.to_json(wire_event(event))
