"""``POST /webhooks/stripe/{processor_id}``: where a Stripe connection's events arrive.

Public (Stripe sends no Checkstand key): what proves a delivery is its ``Stripe-Signature`` under the connection's
webhook secret. The merchant registers this URL, with the processor's id, in their Stripe dashboard. The answer
follows Stripe's expectations: any 2xx is a receipt (a repeated event too), 400 a bad signature or body (Stripe
won't fix it by retrying, but shows it to the merchant), 404 an unknown connection, 503 when Stripe itself can't
be asked to settle the event (Stripe delivers again later). The body is never logged: it may hold customer data.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel

from checkstand.api.http.gateway import PaymentGateway
from checkstand.payments import stripe_events

router = APIRouter(prefix="/webhooks/stripe", tags=["stripe webhooks"])


class WebhookReceipt(BaseModel):
    received: bool
    event_id: str
    duplicate: bool


@router.post("/{processor_id}", summary="Receive a Stripe event for one Stripe connection")
async def receive_stripe_event(
    processor_id: str,
    request: Request,
    gateway: PaymentGateway,
    stripe_signature: Annotated[str | None, Header(description="Stripe's t=...,v1=... signature.")] = None,
) -> WebhookReceipt:
    """Verify, store once, settle (see :mod:`checkstand.payments.stripe_events`). Not in the request's unit of work:
    Stripe is asked about the event between two short transactions of its own."""
    receipt = await stripe_events.receive_stripe_event(gateway, processor_id, await request.body(), stripe_signature)
    return WebhookReceipt(received=True, event_id=receipt.event_id, duplicate=receipt.duplicate)
