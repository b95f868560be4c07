"""Recording events, the one call every module makes when its state changes, and reading them back.

An event's ``data`` is the full object as the PaymentKit dialect renders it (the SDK's ``Event.data``), taken when
the change is made; ``previous_data`` holds the attributes an update changed, with their old values, as Stripe's
``previous_attributes`` does. Payload renderers are registered by the dialect with :func:`event_payload`.

Fan-out happens here, in the transaction that records the event: one ``pending`` delivery row per active endpoint
subscribed to its type. So an event that commits is owed to its endpoints from that instant, whatever crashes next,
and one that rolls back was never owed to anyone. The alternative, a worker fanning out committed events after the
fact, would need a cursor over ``seq``; but sequence values are taken at insert and committed in another order, so
a cursor can step over an event that commits late, losing it. Rows written with the event need no cursor, and the
order of an endpoint's deliveries is simply the order of their events' ``seq``. An endpoint is owed the events
recorded once it exists; a merchant can send it older ones by hand (``events/{id}/redeliver``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Final, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core.ids import new_id
from checkstand.core.listing import ListParams, ListSpec, apply_list_params
from checkstand.core.lookup import one_or_not_found
from checkstand.core.pagination import Page, paginate
from checkstand.events.models import Event
from checkstand.events.types import ALL
from checkstand.webhooks.models import PENDING, WebhookDelivery, WebhookEndpoint

ObjT = TypeVar("ObjT")
PayloadRenderer = Callable[[Any], dict[str, Any]]

_renderers: dict[type, tuple[str, PayloadRenderer]] = {}


def event_payload(
    model: type[ObjT], aggregate_type: str
) -> Callable[[Callable[[ObjT], dict[str, Any]]], Callable[[ObjT], dict[str, Any]]]:
    """Register how objects of ``model`` appear in events (decorator, used by the PaymentKit dialect)."""

    def register(render: Callable[[ObjT], dict[str, Any]]) -> Callable[[ObjT], dict[str, Any]]:
        _renderers[model] = (aggregate_type, render)
        return render

    return register


def _renderer_for(obj: object) -> tuple[str, PayloadRenderer]:
    renderer = _renderers.get(type(obj))
    if renderer is None:
        # The worker and the CLI record events too, without having imported the API: load the renderers.
        importlib.import_module("checkstand.api.paymentkit.routers")
        renderer = _renderers.get(type(obj))
    if renderer is None:
        raise LookupError(f"no event payload registered for {type(obj).__name__}")
    return renderer


# Bookkeeping that changes with every write; alone it is no change worth announcing.
_UNANNOUNCED = frozenset({"updated_at"})


def changed_attributes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The old values of what an update changed (``previous_data``)."""
    keys = (after.keys() | before.keys()) - _UNANNOUNCED
    return {key: before.get(key) for key in sorted(keys) if before.get(key) != after.get(key)}


def snapshot(obj: object) -> dict[str, Any]:
    """The object as an event would carry it; take one before an update to compute ``previous_data``."""
    return _renderer_for(obj)[1](obj)


async def record_event(
    session: AsyncSession,
    *,
    account_id: str,
    type: str,
    obj: object,
    before: dict[str, Any] | None = None,
    correlation_id: str | None = None,
) -> Event | None:
    """Add the event for ``obj``'s change, and its deliveries, to the session's transaction. For an update, pass
    the ``snapshot`` taken before it: an update that changed nothing records nothing and returns None."""
    aggregate_type, render = _renderer_for(obj)
    data = render(obj)
    previous = changed_attributes(before, data) if before is not None else None
    if previous == {}:
        return None
    event = Event(
        id=new_id("evt"),
        account_id=account_id,
        type=type,
        aggregate_type=aggregate_type,
        aggregate_id=str(data["id"]),
        data=data,
        previous_data=previous,
        event_metadata={},
        correlation_id=correlation_id,
    )
    session.add(event)
    await session.flush()
    await _fan_out(session, event)
    return event


async def _fan_out(session: AsyncSession, event: Event) -> None:
    endpoints = await session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.events).where(
            WebhookEndpoint.account_id == event.account_id, WebhookEndpoint.is_active.is_(True)
        )
    )
    deliveries = [
        WebhookDelivery(
            id=new_id("whd"),
            account_id=event.account_id,
            event_id=event.id,
            event_seq=event.seq,
            aggregate_id=event.aggregate_id,
            endpoint_id=endpoint_id,
            status=PENDING,
            attempt_count=0,
            next_attempt_at=event.created_at,
        )
        for endpoint_id, wanted in endpoints
        if ALL in wanted or event.type in wanted
    ]
    if deliveries:
        session.add_all(deliveries)
        await session.flush()


def event_envelope(event: Event) -> dict[str, Any]:
    """The event as the SDK's ``Event`` type has it: the API answers with it and a webhook carries it."""
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


# ``seq`` is the order events were written in, unique and indexed per account: the natural "newest first".
EVENT_LIST: Final = ListSpec(
    filterable={
        "id": Event.id,
        "type": Event.type,
        "aggregate_type": Event.aggregate_type,
        "aggregate_id": Event.aggregate_id,
        "correlation_id": Event.correlation_id,
    },
    sortable={"created": Event.created_at, "created_at": Event.created_at, "type": Event.type},
    searchable=(Event.type, Event.aggregate_id),
    tiebreak=Event.seq,
)


async def list_events(
    session: AsyncSession,
    account_id: str,
    params: ListParams,
    *,
    event_id: str | None = None,
    aggregate_id: str | None = None,
    aggregate_type: str | None = None,
    event_type: str | None = None,
) -> Page[Event]:
    query = select(Event).where(Event.account_id == account_id)
    for column, value in (
        (Event.id, event_id),
        (Event.aggregate_id, aggregate_id),
        (Event.aggregate_type, aggregate_type),
        (Event.type, event_type),
    ):
        if value is not None:
            query = query.where(column == value)
    return await paginate(session, apply_list_params(query, EVENT_LIST, params), params.page)


async def get_event(session: AsyncSession, account_id: str, event_id: str) -> Event:
    return await one_or_not_found(
        session, select(Event).where(Event.id == event_id, Event.account_id == account_id), "event", event_id
    )
