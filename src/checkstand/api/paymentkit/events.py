"""``events/``: the account's event log, each event's deliveries and their attempts, and manual redelivery."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from checkstand.api.http.auth import AccountId
from checkstand.api.http.query import list_query
from checkstand.api.http.unit_of_work import Session
from checkstand.api.paymentkit.common import PageOut, ResponseModel, WireModel
from checkstand.api.paymentkit.event_wire import wire_event
from checkstand.core.listing import ListParams
from checkstand.events import service as events
from checkstand.events.models import Event
from checkstand.webhooks import endpoints as webhook_endpoints
from checkstand.webhooks import service as deliveries
from checkstand.webhooks.models import PENDING, WebhookDelivery, WebhookDeliveryAttempt

router = APIRouter(prefix="/api/{account_id}/events", tags=["events"])


class EventOut(ResponseModel):
    """The SDK's ``Event``: the whole object in ``data``, and for an update the changed attributes' old values
    in ``previous_data``. A webhook's body is exactly this (:mod:`checkstand.api.paymentkit.event_wire`)."""

    id: str
    type: str
    aggregate_type: str
    aggregate_id: str
    data: dict[str, Any]
    previous_data: dict[str, Any] | None
    metadata: dict[str, Any]
    correlation_id: str | None
    version: int
    created: datetime

    @classmethod
    def of(cls, event: Event) -> EventOut:
        return cls.model_validate(wire_event(event))


EventPage = PageOut[EventOut]


class EventDeliveryOut(ResponseModel):
    """The SDK's ``EventDelivery``: ``pending`` (not yet sent, or waiting for ``next_retry_at``), ``succeeded``
    or ``failed`` (given up; see ``error``)."""

    id: str
    event_id: str
    webhook_endpoint_id: str
    webhook_endpoint_url: str | None
    status: str
    attempt_count: int
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    next_retry_at: datetime | None
    response_status: int | None
    error: str | None
    created: datetime

    @classmethod
    def of(cls, delivery: WebhookDelivery, endpoint_url: str) -> EventDeliveryOut:
        return cls(
            id=delivery.id,
            event_id=delivery.event_id,
            webhook_endpoint_id=delivery.endpoint_id,
            webhook_endpoint_url=endpoint_url,
            status=delivery.status,
            attempt_count=delivery.attempt_count,
            last_attempt_at=delivery.last_attempt_at,
            delivered_at=delivery.delivered_at,
            next_retry_at=delivery.next_attempt_at if delivery.status == PENDING else None,
            response_status=delivery.response_status,
            error=delivery.error,
            created=delivery.created_at,
        )


class EventWithDeliveriesOut(ResponseModel):
    event: EventOut
    deliveries: list[EventDeliveryOut]


class DeliveryAttemptOut(ResponseModel):
    id: str
    delivery_id: str
    number: int
    worker_id: str = Field(description="The worker that made it; helps match the worker's log.")
    url: str
    started_at: datetime
    duration_ms: int
    response_status: int | None
    response_body: str | None = Field(description="The first 2 KB of the answer.")
    error: str | None
    outcome: str = Field(description="succeeded, pending (a retry follows) or failed.")

    @classmethod
    def of(cls, attempt: WebhookDeliveryAttempt) -> DeliveryAttemptOut:
        return cls.model_validate(attempt)


class RedeliverRequest(WireModel):
    webhook_endpoint_id: Annotated[str, Field(max_length=64)] | None = Field(
        default=None, description="Send to this endpoint only; by default to every active one it was sent to."
    )


class DeliveryCreatedOut(ResponseModel):
    """The SDK's ``DeliveryCreated``: ``created`` is false when an existing delivery was re-armed."""

    delivery_id: str
    endpoint_id: str
    endpoint_url: str
    status: str
    created: bool


EventListQuery = Annotated[ListParams, Depends(list_query(events.EVENT_LIST))]


@router.get("/")
async def list_events(
    account_id: AccountId,
    params: EventListQuery,
    session: Session,
    event_id: Annotated[str | None, Query(max_length=64, description="Only this event.")] = None,
    aggregate_id: Annotated[str | None, Query(max_length=64, description="Only events of this object.")] = None,
    aggregate_type: Annotated[str | None, Query(max_length=64, description="e.g. checkout_session")] = None,
    event_type: Annotated[str | None, Query(max_length=100, description="e.g. checkout_session.completed")] = None,
) -> EventPage:
    """Newest first."""
    page = await events.list_events(
        session,
        account_id,
        params,
        event_id=event_id,
        aggregate_id=aggregate_id,
        aggregate_type=aggregate_type,
        event_type=event_type,
    )
    return EventPage(items=[EventOut.of(event) for event in page.items], total=page.total, has_more=page.has_more)


@router.get("/{event_id}")
async def get_event(account_id: AccountId, event_id: str, session: Session) -> EventOut:
    return EventOut.of(await events.get_event(session, account_id, event_id))


@router.get("/{event_id}/deliveries")
async def list_event_deliveries(account_id: AccountId, event_id: str, session: Session) -> list[EventDeliveryOut]:
    rows = await deliveries.event_deliveries(session, account_id, event_id)
    return [EventDeliveryOut.of(delivery, url) for delivery, url in rows]


@router.get("/{event_id}/full")
async def get_event_with_deliveries(account_id: AccountId, event_id: str, session: Session) -> EventWithDeliveriesOut:
    event = await events.get_event(session, account_id, event_id)
    rows = await deliveries.event_deliveries(session, account_id, event_id)
    return EventWithDeliveriesOut(
        event=EventOut.of(event), deliveries=[EventDeliveryOut.of(delivery, url) for delivery, url in rows]
    )


@router.get("/{event_id}/deliveries/{delivery_id}/attempts")
async def list_delivery_attempts(
    account_id: AccountId, event_id: str, delivery_id: str, session: Session
) -> list[DeliveryAttemptOut]:
    """Every HTTP request made for the delivery, first to last."""
    attempts = await webhook_endpoints.delivery_attempts(session, account_id, event_id, delivery_id)
    return [DeliveryAttemptOut.of(attempt) for attempt in attempts]


@router.post("/{event_id}/redeliver")
async def redeliver_event(
    account_id: AccountId, event_id: str, session: Session, body: RedeliverRequest | None = None
) -> list[DeliveryCreatedOut]:
    """Send the event again now (receivers dedupe on ``webhook-id``, which stays the event id)."""
    redeliveries = await webhook_endpoints.redeliver_event(
        session, account_id, event_id, body.webhook_endpoint_id if body is not None else None
    )
    return [
        DeliveryCreatedOut(
            delivery_id=r.delivery.id,
            endpoint_id=r.delivery.endpoint_id,
            endpoint_url=r.endpoint_url,
            status=r.delivery.status,
            created=r.created,
        )
        for r in redeliveries
    ]
