"""Webhook endpoints: where an account's events go, their signing secrets, and manual redelivery.

Secrets have the Standard Webhooks form (``whsec_`` and the base64 of 32 random bytes), are sealed at rest with
:class:`~checkstand.core.crypto.SecretBox`, and leave the service only at creation, on reveal and on roll. A roll
keeps the old secret signing alongside the new one for an overlap, so receivers switch over without a gap.

An endpoint is never really deleted: deleting deactivates it, so its deliveries stay readable. Deactivating one, by
hand or because it kept failing, gives up its outstanding deliveries (``failed``), which a merchant can bring back
with :func:`recover_failed` once it works again.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core import clock
from checkstand.core.crypto import SecretBox
from checkstand.core.errors import Conflict, FieldPath, FieldProblem, InvalidFields, NotFound
from checkstand.core.ids import new_id
from checkstand.core.listing import ListParams, ListSpec, apply_list_params
from checkstand.core.lookup import one_or_not_found
from checkstand.core.pagination import Page, paginate
from checkstand.core.urls import UrlProblem, parse_web_url
from checkstand.events.models import Event
from checkstand.events.service import get_event, record_event, snapshot
from checkstand.events.types import ALL, EVENT_TYPES
from checkstand.webhooks.egress import url_refusal
from checkstand.webhooks.models import (
    FAILED,
    PAID,
    PENDING,
    PaidSigningSecret,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
    WebhookEndpointSecret,
)

SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - the Standard Webhooks prefix, not a secret
SECRET_BYTES: Final = 32
MAX_URL_LENGTH: Final = 2048

DEACTIVATED: Final = "deactivated"
DELETED: Final = "deleted"
FAILING: Final = "failing"

ENDPOINT_LIST: Final = ListSpec(
    filterable={"url": WebhookEndpoint.url, "is_active": WebhookEndpoint.is_active},
    sortable={"created_at": WebhookEndpoint.created_at, "updated_at": WebhookEndpoint.updated_at},
    searchable=(WebhookEndpoint.url, WebhookEndpoint.description),
    created_at=WebhookEndpoint.created_at,
    tiebreak=WebhookEndpoint.id,
)


@dataclass(frozen=True)
class EndpointWithSecret:
    """An endpoint and its current signing secret, in the clear: only for the one response that shows it."""

    endpoint: WebhookEndpoint
    secret: str


@dataclass(frozen=True)
class Redelivery:
    delivery: WebhookDelivery
    endpoint_url: str
    created: bool


def new_signing_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def check_url(url: str, path: FieldPath = ("url",), *, allow_private: bool = False) -> str:
    """The URL as stored (normalised by :mod:`checkstand.core.urls`): absolute http(s), without credentials (a
    password in a URL would be stored and shown in the clear, and sent on every delivery), and unless the operator
    allows it, not an address of this machine or its network (:func:`checkstand.webhooks.egress.url_refusal`; a
    name is checked again at every delivery, once resolved)."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidFields.one(path, f"must be at most {MAX_URL_LENGTH} characters")
    try:
        parsed = parse_web_url(url)
    except UrlProblem as problem:
        hint = "; authenticate deliveries with the signing secret" if problem.type == "url_credentials" else ""
        raise InvalidFields.one(path, problem.message + hint, problem.type) from None
    refused = None if allow_private else url_refusal(parsed)
    if refused is not None:
        raise InvalidFields.one(path, refused, "url_not_public")
    return parsed.text


def check_event_types(events: Sequence[str], path: FieldPath = ("events",)) -> list[str]:
    """Known types (or ``*`` for all), each once, in the order given."""
    if not events:
        raise InvalidFields.one(path, f"must name at least one event type, or {ALL!r} for all")
    problems = [
        FieldProblem((*path, index), f"unknown event type {name!r}; see webhook-endpoints/event-types")
        for index, name in enumerate(events)
        if name != ALL and name not in EVENT_TYPES
    ]
    if problems:
        raise InvalidFields(problems)
    return list(dict.fromkeys(events))


async def create_endpoint(
    session: AsyncSession,
    account_id: str,
    *,
    url: str,
    events: Sequence[str],
    description: str | None,
    box: SecretBox,
    allow_private_urls: bool = False,
) -> EndpointWithSecret:
    endpoint = WebhookEndpoint(
        id=new_id("we"),
        account_id=account_id,
        url=check_url(url, allow_private=allow_private_urls),
        description=description,
        events=check_event_types(events),
        is_active=True,
    )
    session.add(endpoint)
    secret = new_signing_secret()
    session.add(_sealed(endpoint, secret, box))
    await session.flush()
    await record_event(session, account_id=account_id, type="webhook_endpoint.created", obj=endpoint)
    return EndpointWithSecret(endpoint, secret)


def _sealed(endpoint: WebhookEndpoint, secret: str, box: SecretBox) -> WebhookEndpointSecret:
    return WebhookEndpointSecret(
        id=new_id("whsk"), account_id=endpoint.account_id, endpoint_id=endpoint.id, sealed_secret=box.seal(secret)
    )


async def get_endpoint(
    session: AsyncSession, account_id: str, endpoint_id: str, *, for_update: bool = False
) -> WebhookEndpoint:
    query = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.account_id == account_id)
    return await one_or_not_found(
        session, query.with_for_update() if for_update else query, "webhook_endpoint", endpoint_id
    )


async def list_endpoints(session: AsyncSession, account_id: str, params: ListParams) -> Page[WebhookEndpoint]:
    query = select(WebhookEndpoint).where(WebhookEndpoint.account_id == account_id)
    return await paginate(session, apply_list_params(query, ENDPOINT_LIST, params), params.page)


async def _live_endpoint(
    session: AsyncSession, account_id: str, endpoint_id: str, *, paid_too: bool = False
) -> WebhookEndpoint:
    """The endpoint, locked for the change to come; a deleted one can't be changed any more, and a Paid one only
    through Paid's webhooks API, unless the change is one both dialects may make (``paid_too``)."""
    endpoint = await get_endpoint(session, account_id, endpoint_id, for_update=True)
    if endpoint.disabled_reason == DELETED:
        raise Conflict(f"Webhook endpoint {endpoint_id!r} was deleted.", code="webhook_endpoint_deleted")
    if not paid_too:
        _refuse_protected(endpoint)
    return endpoint


def _refuse_protected(endpoint: WebhookEndpoint) -> None:
    if endpoint.is_protected:
        raise Conflict(
            f"Webhook endpoint {endpoint.id!r} is Paid's webhook {endpoint.paid_name!r}: change it with Paid's "
            f"webhooks API (PATCH /api/v2/webhooks/{endpoint.paid_name}); its secret is the account's Paid secret.",
            code="webhook_endpoint_protected",
        )


async def update_endpoint(
    session: AsyncSession,
    account_id: str,
    endpoint_id: str,
    changes: Mapping[str, Any],
    *,
    allow_private_urls: bool = False,
) -> WebhookEndpoint:
    """Change ``url``, ``description``, ``events`` or ``is_active``. Reactivating starts the endpoint afresh;
    deactivating gives up its outstanding deliveries."""
    endpoint = await _live_endpoint(session, account_id, endpoint_id)
    before = snapshot(endpoint)
    if "url" in changes:
        endpoint.url = check_url(changes["url"], allow_private=allow_private_urls)
    if "events" in changes:
        endpoint.events = check_event_types(changes["events"])
    if "description" in changes:
        endpoint.description = changes["description"]
    if "is_active" in changes and changes["is_active"] != endpoint.is_active:
        if changes["is_active"]:
            endpoint.is_active = True
            endpoint.failing_since = None
            endpoint.disabled_reason = None
        else:
            await deactivate(session, endpoint, DEACTIVATED)
    await session.flush()
    await record_event(session, account_id=account_id, type="webhook_endpoint.updated", obj=endpoint, before=before)
    return endpoint


async def delete_endpoint(session: AsyncSession, account_id: str, endpoint_id: str) -> WebhookEndpoint:
    endpoint = await _live_endpoint(session, account_id, endpoint_id)
    await deactivate(session, endpoint, DELETED)
    await session.flush()
    await record_event(session, account_id=account_id, type="webhook_endpoint.deleted", obj=endpoint)
    return endpoint


async def deactivate(session: AsyncSession, endpoint: WebhookEndpoint, reason: str) -> None:
    """Nothing more is owed to it: what was pending is given up (``failed``, recoverable by hand)."""
    endpoint.is_active = False
    endpoint.disabled_reason = reason
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == PENDING)
        .values(status=FAILED, next_attempt_at=None, error=f"endpoint {reason}")
    )


async def reveal_secret(session: AsyncSession, account_id: str, endpoint_id: str, box: SecretBox) -> EndpointWithSecret:
    endpoint = await get_endpoint(session, account_id, endpoint_id)
    _refuse_protected(endpoint)
    # A roll gives every older secret an end, so the current one is the one without.
    current = await session.scalar(
        select(WebhookEndpointSecret).where(
            WebhookEndpointSecret.endpoint_id == endpoint.id, WebhookEndpointSecret.expires_at.is_(None)
        )
    )
    if current is None:
        raise NotFound("webhook_endpoint_secret", endpoint_id)
    return EndpointWithSecret(endpoint, box.open(current.sealed_secret))


async def roll_secret(
    session: AsyncSession, account_id: str, endpoint_id: str, box: SecretBox, *, overlap: timedelta
) -> EndpointWithSecret:
    """A new secret signs from now on; the ones still valid keep signing for ``overlap`` (at most: a secret
    already due to expire sooner keeps its date)."""
    endpoint = await _live_endpoint(session, account_id, endpoint_id)
    now = clock.now()
    cutoff = now + overlap
    held = (
        await session.scalars(select(WebhookEndpointSecret).where(WebhookEndpointSecret.endpoint_id == endpoint.id))
    ).all()
    for old in held:
        if old.expires_at is not None and old.expires_at <= now:
            await session.delete(old)
        elif old.expires_at is None or old.expires_at > cutoff:
            old.expires_at = cutoff
    secret = new_signing_secret()
    session.add(_sealed(endpoint, secret, box))
    await session.flush()
    return EndpointWithSecret(endpoint, secret)


async def signing_secrets(session: AsyncSession, endpoint_ids: Collection[str], box: SecretBox) -> dict[str, list[str]]:
    """Every secret that signs a delivery made now to each endpoint: the current one first. A Paid endpoint's is
    its account's Paid secret, the one there is."""
    held: dict[str, list[str]] = {endpoint_id: [] for endpoint_id in endpoint_ids}
    paid = await session.execute(
        select(WebhookEndpoint.id, PaidSigningSecret.sealed_secret)
        .join(PaidSigningSecret, PaidSigningSecret.account_id == WebhookEndpoint.account_id)
        .where(WebhookEndpoint.id.in_(endpoint_ids), WebhookEndpoint.dialect == PAID)
    )
    for endpoint_id, sealed in paid:
        held[endpoint_id].append(box.open(sealed))
    rows = await session.execute(
        select(WebhookEndpointSecret.endpoint_id, WebhookEndpointSecret.sealed_secret)
        .where(
            WebhookEndpointSecret.endpoint_id.in_(endpoint_ids),
            or_(WebhookEndpointSecret.expires_at.is_(None), WebhookEndpointSecret.expires_at > clock.now()),
        )
        .order_by(WebhookEndpointSecret.expires_at.is_(None).desc(), WebhookEndpointSecret.expires_at.desc())
    )
    for endpoint_id, sealed in rows:
        held[endpoint_id].append(box.open(sealed))
    return held


async def reseal_secrets(session: AsyncSession, box: SecretBox) -> int:
    """Re-encrypt every signing secret (the accounts' Paid secrets too) with the box's current key (a key
    rotation); returns how many."""
    rows = (
        await session.execute(select(WebhookEndpointSecret.id, WebhookEndpointSecret.sealed_secret).with_for_update())
    ).all()
    for secret_id, sealed in rows:
        await session.execute(
            update(WebhookEndpointSecret)
            .where(WebhookEndpointSecret.id == secret_id)
            .values(sealed_secret=box.reseal(sealed))
            .execution_options(synchronize_session=False)
        )
    paid = (
        await session.execute(select(PaidSigningSecret.account_id, PaidSigningSecret.sealed_secret).with_for_update())
    ).all()
    for account_id, sealed in paid:
        await session.execute(
            update(PaidSigningSecret)
            .where(PaidSigningSecret.account_id == account_id)
            .values(sealed_secret=box.reseal(sealed))
            .execution_options(synchronize_session=False)
        )
    return len(rows) + len(paid)


async def mark_failing(session: AsyncSession, endpoint_id: str, since: datetime) -> None:
    """Start the endpoint's run of failures, unless one is already running."""
    await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.failing_since.is_(None))
        # Failing is not an edit by the merchant: updated_at stays.
        .values(failing_since=since, updated_at=WebhookEndpoint.updated_at)
        .execution_options(synchronize_session=False)
    )


async def mark_healthy(session: AsyncSession, endpoint_id: str) -> None:
    """A success ends the run of failures. Matches no row (and locks none) when there was none."""
    await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.failing_since.is_not(None))
        .values(failing_since=None, updated_at=WebhookEndpoint.updated_at)
        .execution_options(synchronize_session=False)
    )


async def disable_failing_endpoints(session: AsyncSession, *, failing_for: timedelta, batch: int = 100) -> int:
    """Worker job: disable the endpoints that have failed for ``failing_for`` without a success, each with one
    ``webhook_endpoint.disabled`` event. Rows are claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
    workers side by side never disable (and announce) the same endpoint twice."""
    cutoff = clock.now() - failing_for
    endpoints = (
        await session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.is_active.is_(True), WebhookEndpoint.failing_since <= cutoff)
            .order_by(WebhookEndpoint.failing_since)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for endpoint in endpoints:
        before = snapshot(endpoint)
        await deactivate(session, endpoint, FAILING)
        await session.flush()
        await record_event(
            session, account_id=endpoint.account_id, type="webhook_endpoint.disabled", obj=endpoint, before=before
        )
    return len(endpoints)


def _rearm(delivery: WebhookDelivery, now: datetime) -> None:
    delivery.status = PENDING
    delivery.next_attempt_at = now
    delivery.retrying_since = None


async def redeliver_event(
    session: AsyncSession, account_id: str, event_id: str, endpoint_id: str | None = None
) -> list[Redelivery]:
    """Send the event again: to ``endpoint_id`` (which must be active and subscribed to it), or else to every
    active endpoint it was owed to. An existing delivery is re-armed; a missing one is created."""
    event = await get_event(session, account_id, event_id)
    now = clock.now()
    if endpoint_id is not None:
        endpoint = await get_endpoint(session, account_id, endpoint_id)
        if not endpoint.is_active:
            raise Conflict(f"Webhook endpoint {endpoint_id!r} is not active.", code="webhook_endpoint_inactive")
        if ALL not in endpoint.events and event.type not in endpoint.events:
            raise InvalidFields.one(("endpoint_id",), f"the endpoint is not subscribed to {event.type!r} events")
        endpoints = [endpoint]
    else:
        endpoints = list(
            (
                await session.scalars(
                    select(WebhookEndpoint)
                    .join(WebhookDelivery, WebhookDelivery.endpoint_id == WebhookEndpoint.id)
                    .where(WebhookDelivery.event_id == event.id, WebhookEndpoint.is_active.is_(True))
                    .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
                )
            ).all()
        )
    redeliveries = []
    for endpoint in endpoints:
        delivery = await session.scalar(
            select(WebhookDelivery).where(
                WebhookDelivery.event_id == event.id, WebhookDelivery.endpoint_id == endpoint.id
            )
        )
        created = delivery is None
        if delivery is None:
            delivery = WebhookDelivery(
                id=new_id("whd"),
                account_id=account_id,
                event_id=event.id,
                event_seq=event.seq,
                aggregate_id=event.aggregate_id,
                endpoint_id=endpoint.id,
                attempt_count=0,
            )
            session.add(delivery)
        _rearm(delivery, now)
        redeliveries.append(Redelivery(delivery, endpoint.url, created))
    await session.flush()
    return redeliveries


async def recover_failed(
    session: AsyncSession, account_id: str, endpoint_id: str, *, since: datetime, until: datetime | None = None
) -> int:
    """Re-arm every failed delivery of the endpoint created since ``since`` (and before ``until``): what to do
    once a receiver that was down works again. Returns how many."""
    endpoint = await _live_endpoint(session, account_id, endpoint_id, paid_too=True)
    if not endpoint.is_active:
        raise Conflict(f"Webhook endpoint {endpoint_id!r} is not active.", code="webhook_endpoint_inactive")
    if until is not None and until <= since:
        raise InvalidFields.one(("until",), "must be after since")
    query = (
        update(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint.id,
            WebhookDelivery.status == FAILED,
            WebhookDelivery.created_at >= since,
        )
        .values(status=PENDING, next_attempt_at=clock.now(), retrying_since=None)
    )
    if until is not None:
        query = query.where(WebhookDelivery.created_at < until)
    result = await session.execute(query)
    return int(result.rowcount)  # type: ignore[attr-defined]


async def delivery_attempts(
    session: AsyncSession, account_id: str, event_id: str, delivery_id: str
) -> Sequence[WebhookDeliveryAttempt]:
    """The attempts of one delivery of the event, first to last."""
    delivery = await session.scalar(
        select(WebhookDelivery)
        .join(Event, Event.id == WebhookDelivery.event_id)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.account_id == account_id,
            Event.id == event_id,
        )
    )
    if delivery is None:
        raise NotFound("webhook_delivery", delivery_id)
    rows = await session.scalars(
        select(WebhookDeliveryAttempt)
        .where(WebhookDeliveryAttempt.delivery_id == delivery.id)
        .order_by(WebhookDeliveryAttempt.number)
    )
    return rows.all()
