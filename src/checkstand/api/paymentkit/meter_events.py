"""``meter-events/``: the usage a merchant reports for its customers, billed by their metered prices (as Stripe's
billing meter events; the PaymentKit SDK has no client for them: call them over HTTP with the same bearer key), and
``subscriptions/{id}/usage``: what the current period's usage comes to so far.

A report is deduplicated by its ``identifier``: sent again (a retry, a replay), it answers the event first recorded
with a 200 instead of a 201, and records nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response, status
from pydantic import AwareDatetime, Field, StringConstraints

from checkstand.api.http.auth import AccountId
from checkstand.api.http.query import list_query
from checkstand.api.http.unit_of_work import Session
from checkstand.api.paymentkit.common import PageOut, ResponseModel, WholeNumber, WireModel
from checkstand.api.paymentkit.prices import MeteredId
from checkstand.api.paymentkit.products import MetadataIn, ObjectId
from checkstand.core.listing import ListParams
from checkstand.subscriptions import service as subscriptions
from checkstand.usage import service as usage
from checkstand.usage.models import MeterEvent

router = APIRouter(prefix="/api/{account_id}/meter-events", tags=["meter-events"])
usage_router = APIRouter(prefix="/api/{account_id}/subscriptions", tags=["subscriptions"])

# Printable ASCII without spaces: a request id, a UUID, ``job-42:tokens``.
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[!-~]+$")]


class MeterEventCreate(WireModel):
    metered_id: MeteredId = Field(description="The meter the usage is of: a metered price's metered_id.")
    customer_id: ObjectId = Field(description="A customer of the account.")
    value: WholeNumber = Field(
        description="How much was used: a whole number of the meter's units.",
        json_schema_extra={"minimum": 0, "maximum": usage.MAX_VALUE},
    )
    timestamp: AwareDatetime | None = Field(
        default=None,
        description="When the usage happened, ISO 8601 with its offset (2028-02-01T10:00:00Z); now when omitted (the "
        "customer's test clock's now, on one). At most 5 minutes ahead; refused at timestamp when the period it falls "
        "in is already invoiced (usage is accepted until CHECKSTAND_USAGE_GRACE_SECONDS after a period's end).",
    )
    identifier: Identifier | None = Field(
        default=None,
        description="Your key for this report, unique in the account: the same identifier again answers the event "
        "already recorded (200) and records nothing. Printable ASCII, no spaces; the event's id when omitted.",
    )
    metadata: MetadataIn | None = None


class MeterEventOut(ResponseModel):
    id: str
    account_id: str
    customer_id: str
    metered_id: str
    value: int
    identifier: str
    timestamp: datetime
    subscription_id: str | None = Field(
        description="The customer's subscription with a price on this meter the usage was attributed to, if any."
    )
    metadata: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, event: MeterEvent) -> MeterEventOut:
        return cls(**event.snapshot())


class ItemUsageOut(ResponseModel):
    subscription_item_id: str
    price_id: str
    metered_id: str
    usage_aggregation: str
    quantity: int = Field(description="The period's usage so far, aggregated as the price says.")
    amount_atom: int = Field(description="What that usage would bill now, by the price's scheme.")


class SubscriptionUsageOut(ResponseModel):
    """The usage of the period not yet invoiced: billed by the renewal invoice made at its end."""

    subscription_id: str
    currency: str
    period_start: datetime
    period_end: datetime
    items: list[ItemUsageOut]
    total_amount_atom: int


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    responses={status.HTTP_200_OK: {"model": MeterEventOut, "description": "Already recorded with this identifier."}},
)
async def create_meter_event(
    account_id: AccountId, body: MeterEventCreate, session: Session, response: Response
) -> MeterEventOut:
    event, created = await usage.record_meter_event(
        session,
        account_id,
        usage.MeterEventSpec(
            customer_id=body.customer_id,
            metered_id=body.metered_id,
            value=body.value,
            identifier=body.identifier,
            timestamp=body.timestamp,
            metadata=body.metadata or {},
        ),
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return MeterEventOut.of(event)


MeterEventListQuery = Annotated[ListParams, Depends(list_query(usage.LIST_SPEC))]


@router.get("/")
async def list_meter_events(
    account_id: AccountId, params: MeterEventListQuery, session: Session
) -> PageOut[MeterEventOut]:
    """Newest first; ``filter`` takes ``customer_id``, ``metered_id``, ``subscription_id`` and ``identifier``."""
    page = await usage.list_meter_events(session, account_id, params)
    return PageOut[MeterEventOut].of(page, [MeterEventOut.of(event) for event in page.items])


@router.get("/{meter_event_id}")
async def get_meter_event(account_id: AccountId, meter_event_id: str, session: Session) -> MeterEventOut:
    return MeterEventOut.of(await usage.get_meter_event(session, account_id, meter_event_id))


@usage_router.get("/{subscription_id}/usage")
async def get_subscription_usage(account_id: AccountId, subscription_id: str, session: Session) -> SubscriptionUsageOut:
    """The current period's usage per metered item (none for a subscription without one), and what it would bill if
    the period ended now."""
    subscription = await subscriptions.get_subscription(session, account_id, subscription_id)
    report = await usage.current_usage(session, subscription)
    items = [
        ItemUsageOut(
            subscription_item_id=used.item.id,
            price_id=used.price.id,
            metered_id=used.metered_id,
            usage_aggregation=used.price.usage_aggregation,
            quantity=used.quantity,
            amount_atom=used.amount_atom,
        )
        for used in report.items
    ]
    return SubscriptionUsageOut(
        subscription_id=subscription.id,
        currency=subscription.currency,
        period_start=report.period_start,
        period_end=report.period_end,
        items=items,
        total_amount_atom=sum(item.amount_atom for item in items),
    )
