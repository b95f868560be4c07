"""``POST /webhooks/stripe/{processor_id}``: where a Stripe connection's events arrive.

Public (Stripe sends no Checkstand key): what proves a delivery is its ``Stripe-Signature`` under the connection's
webhook secret. The merchant registers this URL, with the processor's id, in their Stripe dashboard. The answer
follows Stripe's expectations: any 2xx is a receipt (a repeated event too), 400 a bad signature or body (Stripe
won't fix it by retrying, but shows it to the merchant), 404 an unknown connection, 503 when Stripe itself can't
be asked to settle the event (Stripe delivers again later). The body is never logged: it may hold customer data.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.api.http.unit_of_work import db_session
from checkstand.core.crypto import SecretBox
from checkstand.payments import attempts
from checkstand.processors import stripe as stripe_adapter

router = APIRouter(prefix="/webhooks/stripe", tags=["stripe webhooks"])

Session = Annotated[AsyncSession, Depends(db_session)]


def secret_box(request: Request) -> SecretBox:
    """The app's at-rest key, which opens the connection's webhook secret."""
    box: SecretBox = request.app.state.secret_box
    return box


class WebhookReceipt(BaseModel):
    received: bool
    event_id: str
    duplicate: bool


@router.post("/{processor_id}", summary="Receive a Stripe event for one Stripe connection")
async def receive_stripe_event(
    processor_id: str,
    request: Request,
    session: Session,
    box: Annotated[SecretBox, Depends(secret_box)],
    stripe_signature: Annotated[str | None, Header(description="Stripe's t=...,v1=... signature.")] = None,
) -> WebhookReceipt:
    """Verify, store once, settle (see :func:`checkstand.processors.stripe.receive_event`)."""
    receipt = await stripe_adapter.receive_event(session, box, processor_id, await request.body(), stripe_signature)
    public_url = request.app.state.settings.resolved_public_url
    await attempts.settle_stripe_event(session, processor_id, receipt, public_url=public_url)
    return WebhookReceipt(received=True, event_id=receipt.event_id, duplicate=receipt.duplicate)
