"""``webhook-endpoints/``: where events are sent, their signing secrets, and recovery after an outage."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from pydantic import AwareDatetime, Field

from checkstand.api.http.auth import AccountId
from checkstand.api.http.query import list_query
from checkstand.api.http.unit_of_work import Session
from checkstand.api.paymentkit.common import WEB_URL_SCHEMA, PageOut, ResponseModel, WireModel
from checkstand.core.crypto import SecretBox
from checkstand.core.listing import ListParams
from checkstand.events.types import ALL, EVENT_TYPES
from checkstand.webhooks import endpoints as webhook_endpoints
from checkstand.webhooks.models import WebhookEndpoint

router = APIRouter(prefix="/api/{account_id}/webhook-endpoints", tags=["webhook-endpoints"])

MAX_OVERLAP_SECONDS = 7 * 24 * 3600


async def secret_box(request: Request) -> SecretBox:
    box: SecretBox = request.app.state.secret_box
    return box


Box = Annotated[SecretBox, Depends(secret_box)]


async def allow_private_urls(request: Request) -> bool:
    """Whether the operator lets endpoints be on private addresses (``CHECKSTAND_WEBHOOK_ALLOW_PRIVATE_URLS``)."""
    return bool(request.app.state.settings.webhook_allow_private_urls)


AllowPrivateUrls = Annotated[bool, Depends(allow_private_urls)]

Url = Annotated[
    str,
    Field(
        min_length=1,
        max_length=webhook_endpoints.MAX_URL_LENGTH,
        examples=["https://example.com/hooks"],
        json_schema_extra=WEB_URL_SCHEMA,
    ),
]
EventTypes = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=100, json_schema_extra={"enum": [ALL, *EVENT_TYPES]})]],
    Field(
        max_length=len(EVENT_TYPES) + 1,
        description=f"Event types to receive, or [{ALL!r}] for all.",
        # At least one: the service says so in its own words.
        json_schema_extra={"minItems": 1},
    ),
]
Description = Annotated[str, Field(max_length=500)]


class WebhookEndpointOut(ResponseModel):
    """The SDK's ``WebhookEndpoint``; never the secret. ``disabled_reason`` says why an inactive one is:
    ``deactivated`` (by the merchant), ``deleted``, or ``failing`` (by the worker, after days of failures)."""

    id: str
    url: str
    description: str | None
    events: list[str]
    is_active: bool
    is_protected: bool = False
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> WebhookEndpointOut:
        return cls.model_validate(endpoint)


class WebhookEndpointWithSecretOut(WebhookEndpointOut):
    signing_secret: str = Field(description="Verify deliveries with it (Standard Webhooks); shown only on request.")

    @classmethod
    def with_secret(cls, shown: webhook_endpoints.EndpointWithSecret) -> WebhookEndpointWithSecretOut:
        return cls(**WebhookEndpointOut.of(shown.endpoint).model_dump(), signing_secret=shown.secret)


WebhookEndpointPage = PageOut[WebhookEndpointOut]


class WebhookEndpointCreate(WireModel):
    url: Url
    events: EventTypes
    description: Description | None = None


class WebhookEndpointUpdate(WireModel):
    """The SDK sends ``null`` for a parameter passed as None: that leaves ``url``, ``events`` and ``is_active`` as
    they are, and clears ``description``."""

    url: Url | None = None
    description: Description | None = None
    events: EventTypes | None = None
    is_active: bool | None = None


class RollSecret(WireModel):
    ttl_seconds: Annotated[int, Field(ge=0, le=MAX_OVERLAP_SECONDS)] | None = Field(
        default=None, description="How long the old secret keeps signing; 24 hours unless given."
    )


class RecoverRequest(WireModel):
    since: AwareDatetime = Field(description="Re-send the failed deliveries of events from this time on.")
    until: AwareDatetime | None = Field(default=None, description="...and before this time.")


class RecoverOut(ResponseModel):
    redelivered: int


class EventTypeOut(ResponseModel):
    type: str
    description: str


EndpointListQuery = Annotated[ListParams, Depends(list_query(webhook_endpoints.ENDPOINT_LIST))]


@router.get("/")
async def list_webhook_endpoints(
    account_id: AccountId, params: EndpointListQuery, session: Session
) -> WebhookEndpointPage:
    page = await webhook_endpoints.list_endpoints(session, account_id, params)
    return WebhookEndpointPage(
        items=[WebhookEndpointOut.of(e) for e in page.items], total=page.total, has_more=page.has_more
    )


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_webhook_endpoint(
    account_id: AccountId, body: WebhookEndpointCreate, session: Session, box: Box, allow_private: AllowPrivateUrls
) -> WebhookEndpointWithSecretOut:
    """The answer carries the signing secret. The URL must be public: not loopback, private, link-local or a cloud
    metadata address (checked again on every delivery, once its name is resolved) unless the operator allows it."""
    created = await webhook_endpoints.create_endpoint(
        session,
        account_id,
        url=body.url,
        events=body.events,
        description=body.description,
        box=box,
        allow_private_urls=allow_private,
    )
    return WebhookEndpointWithSecretOut.with_secret(created)


@router.get("/event-types")
async def list_event_types(account_id: AccountId) -> list[EventTypeOut]:
    """Every event type Checkstand sends; subscribe with these names, or ``*`` for all."""
    return [EventTypeOut(type=name, description=text) for name, text in EVENT_TYPES.items()]


@router.get("/{endpoint_id}")
async def get_webhook_endpoint(account_id: AccountId, endpoint_id: str, session: Session) -> WebhookEndpointOut:
    return WebhookEndpointOut.of(await webhook_endpoints.get_endpoint(session, account_id, endpoint_id))


@router.patch("/{endpoint_id}")
async def update_webhook_endpoint(
    account_id: AccountId,
    endpoint_id: str,
    body: WebhookEndpointUpdate,
    session: Session,
    allow_private: AllowPrivateUrls,
) -> WebhookEndpointOut:
    changes = {
        key: value
        for key, value in body.model_dump(exclude_unset=True).items()
        if value is not None or key == "description"
    }
    updated = await webhook_endpoints.update_endpoint(
        session, account_id, endpoint_id, changes, allow_private_urls=allow_private
    )
    return WebhookEndpointOut.of(updated)


@router.delete("/{endpoint_id}")
async def delete_webhook_endpoint(account_id: AccountId, endpoint_id: str, session: Session) -> WebhookEndpointOut:
    """Deactivates the endpoint for good; its deliveries stay readable."""
    return WebhookEndpointOut.of(await webhook_endpoints.delete_endpoint(session, account_id, endpoint_id))


@router.get("/{endpoint_id}/reveal-secret")
async def reveal_webhook_secret(
    account_id: AccountId, endpoint_id: str, session: Session, box: Box
) -> WebhookEndpointWithSecretOut:
    return WebhookEndpointWithSecretOut.with_secret(
        await webhook_endpoints.reveal_secret(session, account_id, endpoint_id, box)
    )


@router.post("/{endpoint_id}/roll-secret")
async def roll_webhook_secret(
    account_id: AccountId,
    endpoint_id: str,
    request: Request,
    session: Session,
    box: Box,
    body: RollSecret | None = None,
) -> WebhookEndpointWithSecretOut:
    """A new secret signs from now on; the old one keeps signing too for ``ttl_seconds`` (24 hours by default),
    so each delivery carries both signatures until receivers have switched."""
    ttl = body.ttl_seconds if body is not None and body.ttl_seconds is not None else None
    overlap = timedelta(seconds=ttl if ttl is not None else request.app.state.settings.webhook_secret_overlap_seconds)
    return WebhookEndpointWithSecretOut.with_secret(
        await webhook_endpoints.roll_secret(session, account_id, endpoint_id, box, overlap=overlap)
    )


@router.post("/{endpoint_id}/recover")
async def recover_failed_deliveries(
    account_id: AccountId, endpoint_id: str, body: RecoverRequest, session: Session
) -> RecoverOut:
    """Re-send every failed delivery since a time: what to do once a receiver that was down works again."""
    count = await webhook_endpoints.recover_failed(session, account_id, endpoint_id, since=body.since, until=body.until)
    return RecoverOut(redelivered=count)
