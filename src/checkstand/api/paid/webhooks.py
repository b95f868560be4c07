"""Paid's ``webhooks``: the named billing webhooks of the key's account, each enabled with a URL, and the one
signing secret they share (:mod:`checkstand.webhooks.paid`). Deliveries carry Paid's envelope and
``x-webhook-signature`` (:mod:`checkstand.api.paid.webhook_wire`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import Field

from checkstand.api.http.unit_of_work import Session
from checkstand.api.paid.wire import AccountId, PaidModel, PaidRequest
from checkstand.core.crypto import SecretBox
from checkstand.core.urls import WEB_URL_PATTERN
from checkstand.webhooks import paid as paid_webhooks
from checkstand.webhooks.endpoints import MAX_URL_LENGTH

router = APIRouter(prefix="/webhooks", tags=["paid: webhooks"])


async def secret_box(request: Request) -> SecretBox:
    box: SecretBox = request.app.state.secret_box
    return box


async def allow_private_urls(request: Request) -> bool:
    """Whether the operator lets webhooks go to private addresses (``CHECKSTAND_WEBHOOK_ALLOW_PRIVATE_URLS``)."""
    return bool(request.app.state.settings.webhook_allow_private_urls)


Box = Annotated[SecretBox, Depends(secret_box)]
AllowPrivateUrls = Annotated[bool, Depends(allow_private_urls)]
WebhookName = Annotated[
    str,
    Path(
        max_length=64,
        description="The webhook's name; Checkstand sends " + ", ".join(paid_webhooks.PAID_WEBHOOKS) + ".",
    ),
]


class PaidWebhookOut(PaidModel):
    """The SDK's ``Webhook``. ``id`` is its endpoint's id (the same in PaymentKit's webhook-endpoints), or its name
    while it was never saved; ``lastStatus`` is how its latest delivery attempt went."""

    id: str
    name: str
    description: str
    enabled: bool
    url: str | None
    last_sent_at: datetime | None
    last_status: paid_webhooks.DeliveryStatus | None

    @classmethod
    def of(cls, webhook: paid_webhooks.PaidWebhook) -> PaidWebhookOut:
        return cls(
            id=webhook.endpoint.id if webhook.endpoint is not None else webhook.name,
            name=webhook.name,
            description=webhook.description,
            enabled=webhook.enabled,
            url=webhook.url,
            last_sent_at=webhook.last_sent_at,
            last_status=webhook.last_status,
        )


class PaidWebhookListOut(PaidModel):
    data: list[PaidWebhookOut]
    signing_secret_configured: bool


class PaidWebhookUpdateOut(PaidWebhookOut):
    signing_secret: str | None = Field(
        default=None, description="The account's signing secret, on the save that made it only: store it now."
    )


class PaidWebhookUpdate(PaidRequest):
    enabled: bool | None = Field(default=None, description="Whether the webhook is delivered; it needs a URL.")
    url: (
        Annotated[str, Field(min_length=1, max_length=MAX_URL_LENGTH, json_schema_extra={"pattern": WEB_URL_PATTERN})]
        | None
    ) = Field(
        default=None,
        description="Where to deliver it: an absolute http or https URL without credentials, at a public address "
        "unless the operator allows private ones. Null clears it, while the webhook is disabled.",
    )


class PaidWebhookTestOut(PaidModel):
    success: bool = Field(description="The test delivery is queued; the webhook's lastStatus tells how it went.")


class RotatedSecretOut(PaidModel):
    signing_secret: str = Field(description="The new secret, shown this once; the old one no longer signs.")


@router.get("/")
async def list_webhooks(account_id: AccountId, session: Session) -> PaidWebhookListOut:
    """Every webhook Checkstand sends, saved or not, and whether the account has a signing secret yet."""
    listed = await paid_webhooks.list_paid_webhooks(session, account_id)
    return PaidWebhookListOut(
        data=[PaidWebhookOut.of(webhook) for webhook in listed.webhooks],
        signing_secret_configured=listed.secret_configured,
    )


@router.post("/rotate-secret")
async def rotate_webhook_secret(account_id: AccountId, session: Session, box: Box) -> RotatedSecretOut:
    """A new secret signs every webhook from the next delivery on; the old one stops at once (as Paid does)."""
    return RotatedSecretOut(signing_secret=await paid_webhooks.rotate_paid_secret(session, account_id, box))


@router.patch("/{webhook_name}")
async def update_webhook(
    account_id: AccountId,
    webhook_name: WebhookName,
    body: PaidWebhookUpdate,
    session: Session,
    box: Box,
    allow_private: AllowPrivateUrls,
) -> PaidWebhookUpdateOut:
    """Enable or disable the webhook and set its URL. The account's first save makes its signing secret and
    answers it, once; signatures are ``t=<unix ms>,s=<base64 HMAC-SHA256 of "{t}.{body}">`` keyed with it."""
    saved = await paid_webhooks.save_paid_webhook(
        session,
        account_id,
        webhook_name,
        body.model_dump(exclude_unset=True),
        box=box,
        allow_private_urls=allow_private,
    )
    return PaidWebhookUpdateOut(**PaidWebhookOut.of(saved.webhook).model_dump(), signing_secret=saved.new_secret)


@router.post("/{webhook_name}/test")
async def test_webhook(account_id: AccountId, webhook_name: WebhookName, session: Session) -> PaidWebhookTestOut:
    """Queue a test delivery to the webhook's URL: Paid's envelope with ``isTest`` true and empty ``data``."""
    await paid_webhooks.send_paid_test(session, account_id, webhook_name)
    return PaidWebhookTestOut(success=True)
