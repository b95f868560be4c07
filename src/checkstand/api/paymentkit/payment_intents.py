"""``payments/intents/``: the SDK's ``PaymentIntent``, one per :class:`~checkstand.payments.models.Payment`: the money
a checkout took, an invoice's collection, or the merchant's own payment on a customer's saved payment method (created
here, then confirmed: charged off-session once). Shown with the customer's email, the saved payment method and the
processor, as the SDK's list shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, status
from pydantic import Field

from checkstand.api.http.auth import AccountId
from checkstand.api.http.gateway import PaymentGateway
from checkstand.api.http.query import list_query
from checkstand.api.http.unit_of_work import Session
from checkstand.api.paymentkit.common import CURRENCY_SCHEMA, Metadata, PageOut, ResponseModel, WireModel
from checkstand.api.paymentkit.payment_methods import PaymentMethodSummaryOut
from checkstand.core.listing import ListParams
from checkstand.core.money import MAX_AMOUNT_ATOM
from checkstand.payments import direct, ledger
from checkstand.payments.models import Payment

router = APIRouter(prefix="/api/{account_id}/payments/intents", tags=["payments-intents"])

PaymentListQuery = Annotated[ListParams, Depends(list_query(ledger.PAYMENT_LIST))]

SUCCEEDED = "succeeded"


class PaymentIntentCreate(WireModel):
    customer_external_id: Annotated[str, Field(min_length=1, max_length=64)]
    amount_atom: Annotated[int, Field(ge=1, le=MAX_AMOUNT_ATOM)]
    currency: Annotated[str, Field(min_length=3, max_length=3), CURRENCY_SCHEMA]
    payment_method_external_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    processor_external_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    metadata: Metadata | None = None


class PaymentIntentConfirm(WireModel):
    payment_method_external_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    metadata: Metadata | None = None


class ProcessorInfoOut(ResponseModel):
    id: str
    name: str


class InvoiceAllocationOut(ResponseModel):
    invoice_id: str
    amount_atom: int


class PaymentIntentOut(ResponseModel):
    id: str
    account_id: str
    customer_id: str
    amount_atom: int
    currency: str
    status: str
    client_secret: str | None = None
    confirmed_at: datetime | None
    metadata: dict[str, Any]
    # Card payments are captured as they are confirmed: nothing is ever left to capture.
    amount_atom_capturable: int = 0
    amount_atom_received: int
    attempt_count: int
    invoices: list[InvoiceAllocationOut]
    customer_email: str | None
    payment_method: PaymentMethodSummaryOut | None
    processor: ProcessorInfoOut | None
    created_at: datetime
    updated_at: datetime
    # Beyond the SDK's type (its models keep extra fields).
    amount_refunded_atom: int
    description: str | None
    checkout_session_id: str | None
    subscription_id: str | None
    invoice_id: str | None
    processor_reference: str | None

    @classmethod
    def of(cls, payment: Payment, related: ledger.Related) -> PaymentIntentOut:
        method = related.methods.get(payment.payment_method_id) if payment.payment_method_id else None
        processor = related.processors.get(payment.processor_id) if payment.processor_id else None
        return cls(
            id=payment.id,
            account_id=payment.account_id,
            customer_id=payment.customer_id,
            amount_atom=payment.amount_atom,
            currency=payment.currency,
            status=payment.status,
            confirmed_at=payment.confirmed_at,
            metadata=payment.payment_metadata,
            amount_atom_received=payment.amount_atom if payment.status == SUCCEEDED else 0,
            attempt_count=len(payment.charges),
            invoices=[InvoiceAllocationOut(invoice_id=payment.invoice_id, amount_atom=payment.amount_atom)]
            if payment.invoice_id
            else [],
            customer_email=related.emails.get(payment.customer_id),
            payment_method=PaymentMethodSummaryOut.of(method) if method is not None else None,
            processor=ProcessorInfoOut(id=processor.id, name=processor.name) if processor is not None else None,
            created_at=payment.created_at,
            updated_at=payment.updated_at,
            amount_refunded_atom=payment.amount_refunded_atom,
            description=payment.description,
            checkout_session_id=payment.checkout_session_id,
            subscription_id=payment.subscription_id,
            invoice_id=payment.invoice_id,
            processor_reference=payment.processor_reference,
        )


@router.get("/")
async def list_intents(account_id: AccountId, params: PaymentListQuery, session: Session) -> PageOut[PaymentIntentOut]:
    """Newest first. ``filter`` takes ``status``, ``customer_id``, ``currency``, ``subscription_id``,
    ``invoice_id``, ``checkout_session_id`` and ``processor_id``."""
    page = await ledger.list_payments(session, account_id, params)
    related = await ledger.related(session, account_id, page.items)
    return PageOut[PaymentIntentOut].of(page, [PaymentIntentOut.of(payment, related) for payment in page.items])


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_intent(account_id: AccountId, body: PaymentIntentCreate, session: Session) -> PaymentIntentOut:
    """A payment on the customer's saved payment method, waiting for :func:`confirm_intent`."""
    payment = await direct.create_payment(
        session,
        account_id,
        direct.NewPayment(
            customer_id=body.customer_external_id,
            amount_atom=body.amount_atom,
            currency=body.currency,
            payment_method_id=body.payment_method_external_id,
            processor_id=body.processor_external_id,
            metadata=body.metadata or {},
        ),
    )
    return PaymentIntentOut.of(payment, await ledger.related(session, account_id, [payment]))


@router.post("/{payment_intent_id}/confirm")
async def confirm_intent(
    account_id: AccountId,
    payment_intent_id: str,
    body: PaymentIntentConfirm,
    session: Session,
    gateway: PaymentGateway,
) -> PaymentIntentOut:
    """Charges the payment off-session, once; answers it succeeded, failed (with ``metadata.failure_reason``), or
    still processing when the processor couldn't say (settled later by the worker)."""
    # The charge commits before the processor call and settles after it, in transactions of its own: the read that
    # checked the key must not hold one (on SQLite, the write lock) across the call.
    await session.commit()
    payment = await direct.confirm_payment(
        gateway,
        account_id,
        payment_intent_id,
        payment_method_id=body.payment_method_external_id,
        metadata=body.metadata,
    )
    return PaymentIntentOut.of(payment, await ledger.related(session, account_id, [payment]))


@router.get("/{payment_intent_id}")
async def get_intent(account_id: AccountId, payment_intent_id: str, session: Session) -> PaymentIntentOut:
    payment = await ledger.get_payment(session, account_id, payment_intent_id)
    return PaymentIntentOut.of(payment, await ledger.related(session, account_id, [payment]))
