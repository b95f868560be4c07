"""``payments/payment_methods/``: a customer's saved payment methods, the SDK's ``PaymentMethod``.

A method is saved by a checkout that starts a subscription, or by ``credit_card`` (the card goes to a processor's
vault; only its token, brand, last four digits and expiry are kept). ``create_payment_method`` carries no payment
details, so nothing could ever be charged with what it would make: it is refused (422) rather than storing a method
in name only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Self

from fastapi import APIRouter, Depends, Query, status
from pydantic import Field

from checkstand.api.http.auth import AccountId
from checkstand.api.http.gateway import PaymentGateway
from checkstand.api.http.query import list_query
from checkstand.api.http.unit_of_work import Session
from checkstand.api.paymentkit.common import Metadata, ResponseModel, WireModel
from checkstand.core.errors import BusinessRuleViolation
from checkstand.core.listing import ListParams
from checkstand.payment_methods import service as methods
from checkstand.payment_methods.models import SavedPaymentMethod
from checkstand.payments import saved_methods

router = APIRouter(prefix="/api/{account_id}/payments/payment_methods", tags=["payment-methods"])

Id = Annotated[str, Field(min_length=1, max_length=64)]
# No length or pattern here on purpose: a refused value is checked by the service, whose messages never echo it.
CardText = Annotated[str, Field(max_length=64)]


class PaymentMethodSummaryOut(ResponseModel):
    """The SDK's ``PaymentMethod`` as a payment intent embeds it: its fields only."""

    id: str
    account_id: str
    customer_id: str | None
    provider_type: str
    name: str
    is_active: bool
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, method: SavedPaymentMethod) -> Self:
        return cls.model_validate(method.snapshot())


class PaymentMethodOut(PaymentMethodSummaryOut):
    """The SDK's ``PaymentMethod``, plus what may be shown of the card and the processor that keeps it."""

    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None
    processor_id: str


class PaymentMethodCreate(WireModel):
    provider_type: Annotated[str, Field(max_length=32)]
    name: Annotated[str, Field(max_length=200)]
    customer_id: Id | None = None
    metadata: Metadata | None = None


class PaymentMethodUpdate(WireModel):
    name: Annotated[str, Field(max_length=200)] | None = None
    is_active: bool | None = None
    metadata: Metadata | None = None


class AddressIn(WireModel):
    line1: Annotated[str, Field(max_length=200)] | None = None
    line2: Annotated[str, Field(max_length=200)] | None = None
    line3: Annotated[str, Field(max_length=200)] | None = None
    city: Annotated[str, Field(max_length=200)] | None = None
    state: Annotated[str, Field(max_length=200)] | None = None
    zip_code: Annotated[str, Field(max_length=40)] | None = None
    country: Annotated[str, Field(max_length=2)] | None = None


class CreditCardCreate(WireModel):
    customer_id: Id
    card_number: CardText
    expiry_month: Annotated[str, Field(max_length=4, json_schema_extra={"pattern": "^(?:0?[1-9]|1[0-2])$"})]
    expiry_year: Annotated[
        str, Field(max_length=4, json_schema_extra={"pattern": "^(?:[0-9]{2}|[0-9]{4})$"}, description="YYYY or YY.")
    ]
    cvv: Annotated[str, Field(max_length=8, json_schema_extra={"pattern": "^[0-9]{3,4}$"})] | None = None
    # Accepted as the SDK sends it; the processor's vault is given the card alone, as Stripe's is.
    billing_address: AddressIn | None = None


MethodListQuery = Annotated[ListParams, Depends(list_query(methods.LIST_SPEC))]


@router.get("/")
async def list_payment_methods_for_account(
    account_id: AccountId,
    params: MethodListQuery,
    session: Session,
    include_inactive: Annotated[bool, Query(description="Include detached methods.")] = False,
) -> list[PaymentMethodOut]:
    """Newest first, a page at a time (``limit``/``offset``, as every list; the SDK expects a bare list);
    filterable by customer_id, provider_type, processor_id, brand, last4 and is_active."""
    page = await methods.list_payment_methods(session, account_id, params, include_inactive=include_inactive)
    return [PaymentMethodOut.of(method) for method in page.items]


@router.post("/")
async def create_payment_method(account_id: AccountId, body: PaymentMethodCreate) -> PaymentMethodOut:
    """Refused: a method is saved with its payment details (``credit_card``) or by a checkout."""
    raise BusinessRuleViolation(
        "A payment method needs payment details to be charged: save a card with credit_card, or through checkout.",
        code="payment_details_required",
    )


@router.get("/by_customer/{customer_id}")
async def list_payment_methods_by_customer(
    account_id: AccountId, customer_id: str, session: Session
) -> list[PaymentMethodOut]:
    """The customer's active methods, newest first."""
    return [PaymentMethodOut.of(method) for method in await methods.list_by_customer(session, account_id, customer_id)]


@router.post("/credit_card", status_code=status.HTTP_201_CREATED)
async def create_credit_card(
    account_id: AccountId, body: CreditCardCreate, session: Session, gateway: PaymentGateway
) -> PaymentMethodOut:
    method = await saved_methods.create_credit_card(
        session,
        gateway,
        account_id,
        customer_id=body.customer_id,
        number=body.card_number,
        exp_month=body.expiry_month,
        exp_year=body.expiry_year,
        cvc=body.cvv,
    )
    return PaymentMethodOut.of(method)


@router.get("/{payment_method_id}")
async def get_payment_method(account_id: AccountId, payment_method_id: str, session: Session) -> PaymentMethodOut:
    return PaymentMethodOut.of(await methods.get_payment_method(session, account_id, payment_method_id))


@router.put("/{payment_method_id}")
async def update_payment_method(
    account_id: AccountId,
    payment_method_id: str,
    body: PaymentMethodUpdate,
    session: Session,
    gateway: PaymentGateway,
) -> PaymentMethodOut:
    """A partial update: ``name`` (null goes back to "Visa ending 4242"), ``metadata`` (merged), ``is_active:
    false`` detaches as a delete does."""
    changes = body.model_dump(exclude_unset=True)
    return PaymentMethodOut.of(await saved_methods.update(session, gateway, account_id, payment_method_id, changes))


@router.delete("/{payment_method_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_payment_method(
    account_id: AccountId, payment_method_id: str, session: Session, gateway: PaymentGateway
) -> None:
    """Detaches the method: the processor forgets it and it is never charged again; it stays readable."""
    await saved_methods.detach(session, gateway, account_id, payment_method_id)
