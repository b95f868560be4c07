"""Recording events: the one call every module makes when its state changes.

An event's ``data`` is the full object as the PaymentKit dialect renders it (the SDK's ``Event.data``), taken when
the change is made; ``previous_data`` holds the attributes an update changed, with their old values, as Stripe's
``previous_attributes`` does. Payload renderers are registered by the dialect with :func:`event_payload`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core.ids import new_id
from checkstand.webhooks.models import Event

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
    if not _renderers:
        # The worker and the CLI record events too, without having imported the API: load the renderers.
        importlib.import_module("checkstand.api.paymentkit.payloads")
    try:
        return _renderers[type(obj)]
    except KeyError:
        raise LookupError(f"no event payload registered for {type(obj).__name__}") from None


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
    """Add the event for ``obj``'s change to the session's transaction. For an update, pass the ``snapshot``
    taken before it: an update that changed nothing records nothing and returns None."""
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
    return event
