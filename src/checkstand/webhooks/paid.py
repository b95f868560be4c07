"""Paid's webhooks: a fixed set of named webhooks per account, each enabled with a URL, all signed with the
account's one Paid secret.

A configured Paid webhook is a webhook endpoint of the account (``dialect`` Paid, ``paid_name`` its name) whose
``events`` are the event types its name stands for, so it shares the outbox, fan-out, retries, ordering and delivery
history of every other endpoint; only its body and signature differ, rendered when it is delivered. A name is only
stored once a merchant saves it. The secret is made by the first save (and shown in that answer only) or by a
rotation, which replaces it at once, as Paid does.

A Paid test delivery is an event of its own (``webhook_endpoint.tested``) owed to that one endpoint, so it goes
through the same queue and shows in the webhook's ``lastSentAt``/``lastStatus`` once sent; the request that asks
for it never calls the merchant's URL itself, as no outside call may happen inside a transaction.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core import clock
from checkstand.core.crypto import SecretBox
from checkstand.core.errors import BusinessRuleViolation, InvalidFields, NotFound
from checkstand.core.ids import new_id
from checkstand.events.service import record_event, snapshot
from checkstand.events.types import EventType
from checkstand.webhooks.endpoints import DEACTIVATED, check_url, deactivate
from checkstand.webhooks.models import PAID, PaidSigningSecret, WebhookDelivery, WebhookEndpoint

SECRET_BYTES: Final = 32
NO_URL: Final = ""
DeliveryStatus = Literal["success", "failed"]


@dataclass(frozen=True)
class PaidWebhookKind:
    description: str
    events: tuple[EventType, ...]


# The Paid webhooks Checkstand sends, with the event types each stands for. Paid's others (credits, overage, credit
# caps, invoice-posted: Checkstand issues an invoice as it creates it, there is no later posting) are not sent.
PAID_WEBHOOKS: Final[dict[str, PaidWebhookKind]] = {
    "billing-checkout-created": PaidWebhookKind("A checkout was created.", ("checkout_session.created",)),
    "billing-checkout-completed": PaidWebhookKind(
        "A checkout was paid and completed.", ("checkout_session.completed",)
    ),
    "billing-checkout-expired": PaidWebhookKind("A checkout expired unpaid.", ("checkout_session.expired",)),
    "billing-payment-succeeded": PaidWebhookKind("A payment succeeded.", ("payment.succeeded",)),
    "billing-payment-failed": PaidWebhookKind("A payment failed.", ("payment.failed",)),
    "billing-invoice-created": PaidWebhookKind("An invoice was created (and issued).", ("invoice.created",)),
    "billing-invoice-paid": PaidWebhookKind("An invoice was paid in full.", ("invoice.paid",)),
}


@dataclass(frozen=True)
class PaidWebhook:
    """One named webhook as Paid shows it; ``endpoint`` is None until it is first saved."""

    name: str
    description: str
    endpoint: WebhookEndpoint | None
    last_sent_at: datetime | None = None
    last_status: DeliveryStatus | None = None

    @property
    def enabled(self) -> bool:
        return self.endpoint is not None and self.endpoint.is_active

    @property
    def url(self) -> str | None:
        return (self.endpoint.url or None) if self.endpoint is not None else None


@dataclass(frozen=True)
class PaidWebhooks:
    webhooks: list[PaidWebhook]
    secret_configured: bool


@dataclass(frozen=True)
class SavedPaidWebhook:
    """A saved webhook, and the account's new secret if this save made it (shown this once)."""

    webhook: PaidWebhook
    new_secret: str | None


def new_paid_secret() -> str:
    """Used as the HMAC key as it is (its UTF-8 bytes): nothing for a receiver to decode first."""
    return secrets.token_urlsafe(SECRET_BYTES)


def _kind(name: str) -> PaidWebhookKind:
    kind = PAID_WEBHOOKS.get(name)
    if kind is None:
        raise NotFound("webhook", name)
    return kind


async def _endpoints(session: AsyncSession, account_id: str, *, for_update: bool = False) -> dict[str, WebhookEndpoint]:
    query = select(WebhookEndpoint).where(WebhookEndpoint.account_id == account_id, WebhookEndpoint.dialect == PAID)
    rows = await session.scalars(query.with_for_update() if for_update else query)
    return {endpoint.paid_name: endpoint for endpoint in rows if endpoint.paid_name is not None}


async def _last_attempt(session: AsyncSession, endpoint_id: str) -> tuple[datetime | None, DeliveryStatus | None]:
    """When the endpoint was last sent something, and whether that attempt succeeded."""
    row = (
        await session.execute(
            select(WebhookDelivery.last_attempt_at, WebhookDelivery.response_status)
            .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.last_attempt_at.is_not(None))
            .order_by(WebhookDelivery.last_attempt_at.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return None, None
    sent_at, status = row
    return sent_at, "success" if status is not None and 200 <= status < 300 else "failed"


async def _webhook(session: AsyncSession, name: str, endpoint: WebhookEndpoint | None) -> PaidWebhook:
    sent_at, status = await _last_attempt(session, endpoint.id) if endpoint is not None else (None, None)
    return PaidWebhook(name, PAID_WEBHOOKS[name].description, endpoint, sent_at, status)


async def list_paid_webhooks(session: AsyncSession, account_id: str) -> PaidWebhooks:
    """Every webhook Checkstand sends, saved or not, in a fixed order."""
    endpoints = await _endpoints(session, account_id)
    configured = await session.get(PaidSigningSecret, account_id) is not None
    return PaidWebhooks([await _webhook(session, name, endpoints.get(name)) for name in PAID_WEBHOOKS], configured)


async def _locked_secret(
    session: AsyncSession, account_id: str, box: SecretBox
) -> tuple[PaidSigningSecret, str | None]:
    """The account's secret, locked: every change to its Paid webhooks waits for the one before (so two first saves
    can't both make a secret or an endpoint). Made here if there is none, with the secret in the clear."""
    query = select(PaidSigningSecret).where(PaidSigningSecret.account_id == account_id).with_for_update()
    held = await session.scalar(query)
    if held is not None:
        return held, None
    secret = new_paid_secret()
    made = PaidSigningSecret(account_id=account_id, sealed_secret=box.seal(secret))
    try:
        # A savepoint: a concurrent first save that won makes this insert fail, not the caller's transaction.
        async with session.begin_nested():
            session.add(made)
    except IntegrityError:
        winner = await session.scalar(query.execution_options(populate_existing=True))
        if winner is None:
            raise
        return winner, None
    return made, secret


async def save_paid_webhook(
    session: AsyncSession,
    account_id: str,
    name: str,
    changes: Mapping[str, Any],
    *,
    box: SecretBox,
    allow_private_urls: bool = False,
) -> SavedPaidWebhook:
    """Enable or disable the named webhook (``enabled``) and set or clear (None) its ``url``. An enabled webhook
    needs a URL, so a URL is only cleared while disabled. Turning it off gives up what it was still owed."""
    kind = _kind(name)
    given_url = changes.get("url")
    checked_url = check_url(given_url, allow_private=allow_private_urls) if given_url is not None else NO_URL
    _, new_secret = await _locked_secret(session, account_id, box)
    endpoint = (await _endpoints(session, account_id, for_update=True)).get(name)
    enabled = changes.get("enabled")
    wants_enabled = enabled if enabled is not None else endpoint is not None and endpoint.is_active
    kept_url = endpoint.url if endpoint is not None else NO_URL
    wants_url = checked_url if "url" in changes else kept_url
    if wants_enabled and wants_url == NO_URL:
        path = ("url",) if "url" in changes else ("enabled",)
        raise InvalidFields.one(path, "an enabled webhook needs a URL; give one, or disable the webhook")
    if endpoint is None:
        endpoint = WebhookEndpoint(
            id=new_id("we"),
            account_id=account_id,
            url=wants_url,
            description=kind.description,
            events=list(kind.events),
            is_active=wants_enabled,
            disabled_reason=None if wants_enabled else DEACTIVATED,
            dialect=PAID,
            paid_name=name,
        )
        session.add(endpoint)
        await session.flush()
        await record_event(session, account_id=account_id, type="webhook_endpoint.created", obj=endpoint)
        return SavedPaidWebhook(await _webhook(session, name, endpoint), new_secret)
    before = snapshot(endpoint)
    endpoint.url = wants_url
    if wants_enabled and not endpoint.is_active:
        endpoint.is_active = True
        endpoint.failing_since = None
        endpoint.disabled_reason = None
    elif not wants_enabled and endpoint.is_active:
        await deactivate(session, endpoint, DEACTIVATED)
    await session.flush()
    await record_event(session, account_id=account_id, type="webhook_endpoint.updated", obj=endpoint, before=before)
    return SavedPaidWebhook(await _webhook(session, name, endpoint), new_secret)


async def rotate_paid_secret(session: AsyncSession, account_id: str, box: SecretBox) -> str:
    """A new secret signs every Paid webhook of the account from the next delivery on; the old one, at once, no
    more (Paid: "the previous secret is invalidated immediately")."""
    held, made = await _locked_secret(session, account_id, box)
    if made is not None:
        return made
    secret = new_paid_secret()
    held.sealed_secret = box.seal(secret)
    held.created_at = clock.now()
    await session.flush()
    return secret


async def send_paid_test(session: AsyncSession, account_id: str, name: str) -> WebhookEndpoint:
    """Owe the named webhook a test delivery (Paid's envelope with ``isTest`` true), sent by the worker."""
    _kind(name)
    endpoint = (await _endpoints(session, account_id)).get(name)
    if endpoint is None or not endpoint.is_active:
        raise BusinessRuleViolation(
            f"The webhook {name!r} is not enabled: enable it with a URL before testing it.", code="webhook_not_enabled"
        )
    await record_event(
        session, account_id=account_id, type="webhook_endpoint.tested", obj=endpoint, only_endpoint_id=endpoint.id
    )
    return endpoint
