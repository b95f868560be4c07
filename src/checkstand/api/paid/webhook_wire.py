"""The Paid dialect's wire shape of an event, as its webhooks carry it: ``{event, timestamp, isTest, data}``.

``event`` is the endpoint's Paid webhook name, ``timestamp`` when the event happened (ISO 8601), ``isTest`` true
only for a test delivery (whose ``data`` is empty), and ``data`` Paid's object for what the event is about, as the
Paid API renders it. A checkout's ``Checkout`` (:class:`~checkstand.api.paid.checkouts.CheckoutOut`) and a
payment's ``Payment`` (:class:`~checkstand.api.paid.payments.PaymentOut`) are read as they are when the delivery is
made (the hosted page's URL, the customer's external id and the payment's number are not in the event); an invoice
is rendered as its event recorded it (:class:`~checkstand.api.paid.invoices.PaidInvoiceOut`). A checkout's failed
payment made no payment record: it is its attempt in ``Payment``'s shape, without a number
(:class:`FailedCheckoutPaymentOut`). The worker is handed :func:`paid_webhook_body` at start
(:mod:`checkstand.worker`), as delivery sits below this layer; the signature is delivery's
(:mod:`checkstand.webhooks.signing`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Final, Literal

import pydantic_core
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.api.paid import ids
from checkstand.api.paid.checkouts import CheckoutOut
from checkstand.api.paid.invoices import PaidInvoiceOut
from checkstand.api.paid.payments import PaymentOut
from checkstand.api.paid.wire import PaidModel
from checkstand.checkout import offers
from checkstand.events.models import Event
from checkstand.payments import ledger
from checkstand.webhooks.delivery import WebhookBody
from checkstand.webhooks.models import WebhookEndpoint

TEST_EVENT: Final = "webhook_endpoint.tested"

PaidData = Callable[[AsyncSession, Event, str], Awaitable[dict[str, Any]]]
"""Paid's object for an event's aggregate, given the event and the service's public URL (for hosted pages)."""


async def _checkout(session: AsyncSession, event: Event, public_url: str) -> dict[str, Any]:
    checkout = await offers.get_checkout(session, event.account_id, event.aggregate_id)
    customers = {checkout.customer_id} if checkout.customer_id is not None else set()
    external = await offers.external_customer_ids(session, event.account_id, customers)
    rendered = CheckoutOut.of(checkout, public_url=public_url, external_id=external.get(checkout.customer_id or ""))
    return rendered.model_dump(mode="json")


async def _invoice(session: AsyncSession, event: Event, public_url: str) -> dict[str, Any]:
    return PaidInvoiceOut.of_snapshot(event.data).model_dump(mode="json")


async def _payment(session: AsyncSession, event: Event, public_url: str) -> dict[str, Any]:
    numbered = await ledger.get_numbered_payment(session, event.account_id, event.aggregate_id)
    return PaymentOut.of(numbered).model_dump(mode="json")


class FailedCheckoutPaymentOut(PaidModel):
    """A checkout's failed payment in the SDK's ``Payment`` shape: the amount and currency the last processor was
    asked for (the checkout's, when no processor could be asked), the checkout it was for, and why it failed."""

    id: str
    number: None = None
    customer_id: str | None
    invoice_id: None = None
    order_id: None = None
    amount: int
    allocated_amount: int = 0
    balance: int = 0
    currency: str
    payment_date: datetime
    payment_type: str = "creditCard"
    status: Literal["failed"] = "failed"
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    checkout_id: str
    failure_code: str | None
    failure_message: str | None


async def _failed_checkout_payment(session: AsyncSession, event: Event, public_url: str) -> dict[str, Any]:
    attempt = event.data
    asked = attempt["processor_attempts"][-1] if attempt["processor_attempts"] else None
    if asked is not None:
        amount, currency = asked["amount_atom"], asked["currency"]
    else:
        checkout = await offers.get_checkout(session, event.account_id, attempt["checkout_session_id"])
        amount, currency = checkout.amount_due_today_atom, checkout.currency
    failed = FailedCheckoutPaymentOut(
        id=attempt["id"],
        customer_id=attempt["customer_id"],
        amount=amount,
        currency=currency.upper(),
        payment_date=attempt["created_at"],
        metadata={},
        created_at=attempt["created_at"],
        updated_at=attempt["updated_at"],
        checkout_id=ids.checkout_id(attempt["checkout_session_id"]),
        failure_code=attempt["decline_code"],
        failure_message=attempt["error_message_for_customer"],
    )
    return failed.model_dump(mode="json")


DATA: Final[dict[str, PaidData]] = {
    "checkout_session": _checkout,
    "payment": _payment,
    "checkout_attempt": _failed_checkout_payment,
    "invoice": _invoice,
}


def paid_envelope(event: Event, name: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "event": name,
        "timestamp": event.created_at,
        "isTest": event.type == TEST_EVENT,
        "data": data,
    }


def paid_webhook_body(public_url: str) -> WebhookBody:
    """The body of a delivery to a Paid endpoint; ``public_url`` is where this service's pages are reached."""

    async def render(session: AsyncSession, event: Event, endpoint: WebhookEndpoint) -> bytes:
        assert endpoint.paid_name is not None  # every Paid endpoint is saved under its name
        data = {} if event.type == TEST_EVENT else await DATA[event.aggregate_type](session, event, public_url)
        return pydantic_core.to_json(paid_envelope(event, endpoint.paid_name, data))

    return render
