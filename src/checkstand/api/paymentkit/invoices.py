"""``invoices/``: every call of the SDK's invoices client: list (with its ``status`` filter), create a one-off invoice
with its items, get, and collect (charge it now on the saved payment method, once).

Renders the SDK's ``Invoice`` and ``InvoiceListItem``: items as its ``InvoiceItem``, whose ``unit_amount`` and
``amount`` are in minor units (the SDK types them as numbers and says no more; Stripe's invoice items give minor units,
and every other amount of this API is one), and the payments that paid it as ``PaymentAllocation``s.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from pydantic import AwareDatetime, Field

from checkstand.api.http.auth import AccountId
from checkstand.api.http.gateway import PaymentGateway
from checkstand.api.http.query import expand_query, list_query
from checkstand.api.http.unit_of_work import Session
from checkstand.api.paymentkit.common import Metadata, PageOut, ResponseModel, WireModel
from checkstand.api.paymentkit.customers import Currency
from checkstand.core.listing import ListParams
from checkstand.core.money import MAX_AMOUNT_ATOM
from checkstand.invoices import manual
from checkstand.invoices import service as invoices
from checkstand.invoices.models import STATES, Invoice
from checkstand.payments import collection

router = APIRouter(prefix="/api/{account_id}/invoices", tags=["invoices"])

# Items and payments are always included; the SDK may ask for them.
Expand = Annotated[frozenset[str], Depends(expand_query("items", "payments"))]
InvoiceListQuery = Annotated[ListParams, Depends(list_query(invoices.LIST_SPEC))]
ObjectId = Annotated[str, Field(min_length=1, max_length=64)]
# Minor units, whole: the SDK sends a number typed as a float, so 4900.0 is read as 4900 and 49.5 refused.
AmountAtom = Annotated[int, Field(ge=0, le=MAX_AMOUNT_ATOM)]


class InvoiceItemOut(ResponseModel):
    """The SDK's ``InvoiceItem``, plus the line's price and period. A tiered or package price's line has no one
    amount per unit: its unit amount is 0 and its amount is the price's for the whole quantity (its ``price_id``'s
    tiers tell how)."""

    id: str
    invoice_id: str
    name: str
    description: str | None
    price_id: str | None
    quantity: int
    unit_amount: int
    amount: int
    unit_amount_atom: int
    amount_atom: int
    period_start: datetime | None
    period_end: datetime | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class PaymentAllocationOut(ResponseModel):
    payment_intent_id: str
    amount_atom: int


class InvoiceOut(ResponseModel):
    """The SDK's ``Invoice``, plus what the ``invoice.*`` events carry (the subscription or checkout it bills, the
    discount, the dunning schedule's state)."""

    id: str
    account_id: str
    customer_id: str
    subscription_id: str | None
    checkout_session_id: str | None
    invoice_number: int
    status: str
    billing_reason: str
    collection_method: str
    currency: str
    subtotal_amount_atom: int
    discount_amount_atom: int
    tax_amount_atom: int
    total_amount_atom: int
    due_amount_atom: int
    paid_amount_atom: int
    remaining_amount_atom: int
    period_start: datetime | None
    period_end: datetime | None
    issued_at: datetime
    due_date: datetime | None
    paid_at: datetime | None
    attempt_count: int
    next_attempt_at: datetime | None
    description: str | None
    metadata: dict[str, Any]
    items: list[InvoiceItemOut] | None
    payments: list[PaymentAllocationOut] | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(
        cls, invoice: Invoice, related: collection.InvoiceRelated, *, items: bool = True, payments: bool = True
    ) -> InvoiceOut:
        """``items`` and ``payments`` leave those parts out (null) when false, as a subscription's invoices do
        unless asked for them."""
        out = invoice.snapshot()
        return cls.model_validate(
            {
                **out,
                "items": out["items"] if items else None,
                "payments": _allocations(invoice, related) if payments else None,
            }
        )


class InvoiceListItemOut(InvoiceOut):
    """The SDK's ``InvoiceListItem``: the invoice with its customer's email."""

    customer_email: str | None

    @classmethod
    def listed(cls, invoice: Invoice, related: collection.InvoiceRelated) -> InvoiceListItemOut:
        return cls.model_validate(
            {
                **invoice.snapshot(),
                "payments": _allocations(invoice, related),
                "customer_email": related.emails.get(invoice.customer_id),
            }
        )


def _allocations(invoice: Invoice, related: collection.InvoiceRelated) -> list[dict[str, Any]]:
    return [
        {"payment_intent_id": payment.id, "amount_atom": payment.amount_atom}
        for payment in related.payments.get(invoice.id, [])
    ]


class InvoiceItemIn(WireModel):
    """The SDK's ``InvoiceItemCreate``: a price (``price_external_id``), or a name with ``unit_amount`` (or
    ``amount``), in minor units."""

    name: Annotated[str, Field(min_length=1, max_length=250)] | None = None
    price_external_id: ObjectId | None = None
    description: Annotated[str, Field(max_length=500)] | None = None
    quantity: Annotated[int, Field(ge=1, le=manual.MAX_QUANTITY)] | None = None
    unit_amount: AmountAtom | None = None
    amount: AmountAtom | None = None
    metadata: Metadata | None = None

    def line(self) -> manual.NewLine:
        return manual.NewLine(
            name=self.name,
            price_id=self.price_external_id,
            description=self.description,
            quantity=self.quantity,
            unit_amount_atom=self.unit_amount,
            amount_atom=self.amount,
            metadata=self.metadata or {},
        )


class InvoiceCreate(WireModel):
    """The SDK's ``create_invoice`` body."""

    customer_id: ObjectId
    currency: Currency
    issued_at: AwareDatetime
    invoice_type: Annotated[str, Field(max_length=32, json_schema_extra={"enum": ["one_off"]})] | None = None
    status: Annotated[str, Field(max_length=32, json_schema_extra={"enum": ["draft", "open"]})] | None = None
    collection_method: (
        Annotated[str, Field(max_length=32, json_schema_extra={"enum": ["charge_automatically"]})] | None
    ) = None
    billing_reason: Annotated[str, Field(max_length=32, json_schema_extra={"enum": ["manual"]})] | None = None
    due_date: AwareDatetime | None = None
    description: Annotated[str, Field(max_length=500)] | None = None
    metadata: Metadata | None = None
    custom_fields: dict[str, Any] | None = None
    items: Annotated[list[InvoiceItemIn], Field(max_length=manual.MAX_LINES)] | None = None

    def spec(self) -> manual.NewInvoice:
        return manual.NewInvoice(
            customer_id=self.customer_id,
            currency=self.currency,
            issued_at=self.issued_at,
            lines=[item.line() for item in self.items or []],
            invoice_type=self.invoice_type,
            status=self.status,
            collection_method=self.collection_method,
            billing_reason=self.billing_reason,
            due_date=self.due_date,
            description=self.description,
            metadata=self.metadata,
            custom_fields=self.custom_fields,
        )


class CollectInvoiceOut(ResponseModel):
    """The SDK's ``CollectInvoiceResponse``; ``payment_status`` is ``paid``, ``failed``, ``no_payment_method``, or
    ``processing`` when the processor could not say yet (the worker settles it)."""

    invoice_id: str
    invoice_status: str
    subscription_id: str | None
    payment_status: str
    error_message: str | None


@router.get("/")
async def list_invoices(
    account_id: AccountId,
    params: InvoiceListQuery,
    expand: Expand,
    session: Session,
    status: Annotated[
        str | None,
        Query(max_length=16, description="Only invoices in this state.", json_schema_extra={"enum": list(STATES)}),
    ] = None,
) -> PageOut[InvoiceListItemOut]:
    """Newest first; ``filter`` also takes customer_id, subscription_id, status, billing_reason, currency and
    invoice_number."""
    page = await invoices.list_invoices(session, account_id, params, status=status)
    related = await collection.invoice_related(session, account_id, page.items)
    return PageOut[InvoiceListItemOut].of(page, [InvoiceListItemOut.listed(i, related) for i in page.items])


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_invoice(account_id: AccountId, body: InvoiceCreate, session: Session) -> InvoiceOut:
    """A one-off invoice for a customer, ``open`` (or ``draft``) until it is collected."""
    invoice = await manual.create_manual_invoice(session, account_id, body.spec())
    return InvoiceOut.of(invoice, await collection.invoice_related(session, account_id, [invoice]))


@router.get("/{invoice_id}")
async def get_invoice(account_id: AccountId, invoice_id: str, expand: Expand, session: Session) -> InvoiceOut:
    invoice = await invoices.get_invoice(session, account_id, invoice_id)
    return InvoiceOut.of(invoice, await collection.invoice_related(session, account_id, [invoice]))


@router.post("/{invoice_id}/collect")
async def collect_invoice(
    account_id: AccountId, invoice_id: str, session: Session, gateway: PaymentGateway
) -> CollectInvoiceOut:
    """Charge a draft, open or past-due invoice now, once, on its subscription's default saved payment method (else
    the one its payment last used); paid settles its subscription (active again, or active for the first time). A
    settled invoice, or one being charged, is a 409."""
    # The charge commits before the processor call and settles after it, in transactions of its own: the request's
    # (which checked the key) must not hold one, on SQLite the write lock, across the call.
    await session.commit()
    done = await collection.collect_invoice(gateway, account_id, invoice_id)
    return CollectInvoiceOut(
        invoice_id=done.invoice.id,
        invoice_status=done.invoice.status,
        subscription_id=done.invoice.subscription_id,
        payment_status=done.payment_status,
        error_message=done.error_message,
    )
