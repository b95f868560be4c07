"""Recording events, the one call every module makes when its state changes, and reading them back.

An event's ``data`` is the domain's own snapshot of the object, taken when the change is made: each model that
announces its changes is :class:`Recordable` (it names its ``aggregate_type`` and says what it is), so recording
needs no registry and no HTTP module, and works the same in a request, the worker and the CLI. Snapshots use the
field names of PaymentKit, the native dialect; a dialect renders its own wire shape of an event when the event is
read or delivered. ``previous_data`` holds the attributes an update changed, with their old values, as Stripe's
``previous_attributes`` does.

Fan-out happens here, in the transaction that records the event: one ``pending`` delivery row per active endpoint
subscribed to its type. So an event that commits is owed to its endpoints from that instant, whatever crashes next,
and one that rolled back was never owed to anyone. The alternative, a worker fanning out committed events after the
fact, would need a cursor over ``seq``; but sequence values are taken at insert and committed in another order, so
a cursor can step over an event that commits late, losing it. Rows written with the event need no cursor, and the
order of an endpoint's deliveries is simply the order of their events' ``seq``. An endpoint is owed the events
recorded once it exists; a merchant can send it older ones by hand (``events/{id}/redeliver``).

A module above this one that owes something for an event in the same way (a receipt email for a payment) adds an
:data:`EventHook` to a database's sessions (:func:`add_event_hook`): the hook is called in the event's transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Final, Protocol

import pydantic_core
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from checkstand.core.ids import new_id
from checkstand.core.listing import ListParams, ListSpec, apply_list_params
from checkstand.core.lookup import one_or_not_found
from checkstand.core.pagination import Page, paginate
from checkstand.events.models import Event
from checkstand.events.types import ALL, EventType
from checkstand.webhooks.models import PENDING, WebhookDelivery, WebhookEndpoint


class Recordable(Protocol):
    """A domain object whose changes are announced. Its module owns what an event says about it."""

    aggregate_type: ClassVar[str]

    def snapshot(self) -> dict[str, Any]:
        """The whole object, ``id`` included; values may be any type pydantic renders as JSON (datetimes...)."""


EventHook = Callable[[AsyncSession, Event], Awaitable[None]]
"""What else is written with each event a session records, in its transaction (flush only, never commit)."""

# The key of ``Session.info`` under which a session carries its hooks: set on the session factory, so every
# transaction of a process (requests, worker jobs, payment flows) gets them without being handed them.
EVENT_HOOKS: Final = "checkstand.event_hooks"


def add_event_hook(sessions: async_sessionmaker[AsyncSession], hook: EventHook) -> None:
    """Call ``hook`` with every event recorded in a session ``sessions`` makes from now on; adding it twice
    changes nothing."""
    info = dict(sessions.kw.get("info") or {})
    hooks: tuple[EventHook, ...] = info.get(EVENT_HOOKS, ())
    if hook not in hooks:
        info[EVENT_HOOKS] = (*hooks, hook)
        sessions.configure(info=info)


# Bookkeeping that changes with every write; alone it is no change worth announcing.
_UNANNOUNCED = frozenset({"updated_at"})


def changed_attributes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The old values of what an update changed (``previous_data``)."""
    keys = (after.keys() | before.keys()) - _UNANNOUNCED
    return {key: before.get(key) for key in sorted(keys) if before.get(key) != after.get(key)}


def snapshot(obj: Recordable) -> dict[str, Any]:
    """The object as an event stores it (JSON); take one before an update to compute ``previous_data``."""
    data: dict[str, Any] = pydantic_core.to_jsonable_python(obj.snapshot())
    return data


async def record_event(
    session: AsyncSession,
    *,
    account_id: str,
    type: EventType,
    obj: Recordable,
    before: dict[str, Any] | None = None,
    correlation_id: str | None = None,
    only_endpoint_id: str | None = None,
) -> Event | None:
    """Add the event for ``obj``'s change, and its deliveries, to the session's transaction. For an update, pass
    the ``snapshot`` taken before it: an update that changed nothing records nothing and returns None.
    ``only_endpoint_id`` owes the event to that one active endpoint, whatever it subscribes to (a test delivery)."""
    data = snapshot(obj)
    previous = changed_attributes(before, data) if before is not None else None
    if previous == {}:
        return None
    event = Event(
        id=new_id("evt"),
        account_id=account_id,
        type=type,
        aggregate_type=obj.aggregate_type,
        aggregate_id=str(data["id"]),
        data=data,
        previous_data=previous,
        event_metadata={},
        correlation_id=correlation_id,
    )
    session.add(event)
    await session.flush()
    await _fan_out(session, event, only_endpoint_id)
    hook: EventHook
    for hook in session.info.get(EVENT_HOOKS, ()):
        await hook(session, event)
    return event


async def _fan_out(session: AsyncSession, event: Event, only_endpoint_id: str | None) -> None:
    query = select(WebhookEndpoint.id, WebhookEndpoint.events).where(
        WebhookEndpoint.account_id == event.account_id, WebhookEndpoint.is_active.is_(True)
    )
    if only_endpoint_id is not None:
        query = query.where(WebhookEndpoint.id == only_endpoint_id)
    endpoints = await session.execute(query)
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
        if only_endpoint_id is not None or ALL in wanted or event.type in wanted
    ]
    if deliveries:
        session.add_all(deliveries)
        await session.flush()


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
