"""``customers/``: create, read, list, update, addresses, and look-up by the merchant's external id."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Annotated, Any, Literal

from babel import Locale, UnknownLocaleError
from fastapi import APIRouter, Depends, status
from pydantic import AfterValidator, EmailStr, Field, StringConstraints, WithJsonSchema

from checkstand.api.http.auth import AccountId
from checkstand.api.http.query import expand_query, list_query
from checkstand.api.http.unit_of_work import Session
from checkstand.api.paymentkit.common import CURRENCY_SCHEMA, Metadata, Omittable, PageOut, ResponseModel, WireModel
from checkstand.core.listing import ListParams
from checkstand.core.money import is_currency
from checkstand.customers import service as customers
from checkstand.customers.models import Customer

router = APIRouter(prefix="/api/{account_id}/customers", tags=["customers"])

EXPANDABLE = frozenset({"custom_fields"})


@cache
def _territories() -> frozenset[str]:
    return frozenset(Locale("en").territories)


def _country(code: str) -> str:
    upper = code.upper()
    if len(upper) != 2 or upper not in _territories():
        raise ValueError("must be a two-letter ISO 3166-1 country code, e.g. 'US'")
    return upper


def _currency(code: str) -> str:
    if not is_currency(code):
        raise ValueError("must be an ISO 4217 currency code in use, e.g. 'usd'")
    return code.lower()


def _language(tag: str) -> str:
    try:
        Locale.parse(tag.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        raise ValueError("must be a known language tag, e.g. 'en' or 'pt-BR'") from None
    return tag


Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
# Digits with the usual separators, at least three of them; E.164 or local, as customers type it.
Phone = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=40, pattern=r"^\+?(?:[()./ -]*[0-9]){3,}[()./ -]*$")
]
Country = Annotated[
    str,
    StringConstraints(strip_whitespace=True),
    AfterValidator(_country),
    WithJsonSchema(
        {
            "type": "string",
            "enum": sorted(code for code in _territories() if len(code) == 2),
            "description": "A two-letter ISO 3166-1 country code as CLDR lists them, upper-case (lower-case is "
            "accepted too).",
        }
    ),
]
Currency = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_currency), CURRENCY_SCHEMA]
Language = Annotated[str, StringConstraints(strip_whitespace=True, max_length=35), AfterValidator(_language)]
TaxId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=255)]
CustomerMetadata = Annotated[Metadata, Field(max_length=50)]


class AddressIn(WireModel):
    line1: Text | None = None
    line2: Text | None = None
    line3: Text | None = None
    city: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    state: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    zip_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] | None = None
    country: Country | None = None


class AddressOut(ResponseModel):
    id: str
    line1: str | None
    line2: str | None
    line3: str | None
    city: str | None
    state: str | None
    zip_code: str | None
    country: str | None


class CustomerFields(WireModel):
    """What create and update share. ``note_id`` and ``invoice_settings`` are sent by the SDK but mean nothing
    here (no notes, no invoices): accepted and ignored."""

    first_name: Name | None = None
    last_name: Name | None = None
    phone: Phone | None = None
    billing_email: EmailStr | None = None
    business_name: Text | None = None
    address: AddressIn | None = None
    shipping_address: AddressIn | None = None
    note_id: str | None = None
    tax_ids: Annotated[list[TaxId], Field(max_length=10)] | None = None
    currency: Currency | None = None
    language: Language | None = None
    invoice_settings: dict[str, Any] | None = None
    metadata: CustomerMetadata | None = Field(
        default=None, description='On update, merged into the current metadata; a key set to "" is removed.'
    )
    custom_fields: dict[str, Any] | None = Field(
        default=None, description="Values for the account's customer custom fields; a key set to null is removed."
    )
    external_id: ExternalId | None = Field(
        default=None, description="Your own id for the customer, unique in the account."
    )

    def service_fields(self) -> dict[str, Any]:
        """The fields the client sent, as the service takes them."""
        return self.model_dump(exclude_unset=True, exclude={"note_id", "invoice_settings"})


class CustomerCreate(CustomerFields):
    email: EmailStr
    test_clock_id: str | None = Field(
        default=None,
        description="A test clock of the account the customer lives by (renewals, trials, dunning at the clock's "
        "time). Not in the SDK's create_customer: send it as an extra body field.",
    )


class CustomerUpdate(CustomerFields):
    # The SDK always sends an email; omitting it keeps the current one, but a customer can't lose it.
    email: Omittable[EmailStr] = None


class AddressCreate(AddressIn):
    address_type: Literal["billing", "shipping"] = "billing"


class CustomerOut(ResponseModel):
    id: str
    name: str | None
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    billing_email: str | None
    business_name: str | None
    address: AddressOut | None
    shipping_address: AddressOut | None
    note_id: str | None = None
    tax_ids: list[str]
    currency: str | None
    language: str | None
    invoice_settings: dict[str, Any] | None = None
    credit_balance: dict[str, Any] | None = None
    total_spent: dict[str, Any] | None = None
    metadata: dict[str, Any]
    custom_fields: dict[str, Any] | None = Field(description="Only with expand=custom_fields.")
    external_id: str | None
    test_clock_id: str | None = None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, customer: Customer, *, expand: frozenset[str] = frozenset()) -> CustomerOut:
        return cls(
            id=customer.id,
            name=customer.name,
            first_name=customer.first_name,
            last_name=customer.last_name,
            email=customer.email,
            phone=customer.phone,
            billing_email=customer.billing_email,
            business_name=customer.business_name,
            address=AddressOut.model_validate(customer.address) if customer.address else None,
            shipping_address=(
                AddressOut.model_validate(customer.shipping_address) if customer.shipping_address else None
            ),
            tax_ids=customer.tax_ids,
            currency=customer.currency,
            language=customer.language,
            metadata=customer.customer_metadata,
            custom_fields=customer.custom_fields if "custom_fields" in expand else None,
            external_id=customer.external_id,
            test_clock_id=customer.test_clock_id,
            credit_balance=customer.credit_balance(),
            created_at=customer.created_at,
            updated_at=customer.updated_at,
        )


CustomerPage = PageOut[CustomerOut]


Expand = Annotated[frozenset[str], Depends(expand_query(*EXPANDABLE))]


CustomerListQuery = Annotated[ListParams, Depends(list_query(customers.LIST_SPEC))]


@router.get("/")
async def list_customers(
    account_id: AccountId, params: CustomerListQuery, expand: Expand, session: Session
) -> CustomerPage:
    """Filterable by email (any case), external_id, currency, phone, business_name; search looks in name, email
    and business name."""
    page = await customers.list_customers(session, account_id, params)
    items = [CustomerOut.of(customer, expand=expand) for customer in page.items]
    return CustomerPage(items=items, total=page.total, has_more=page.has_more)


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_customer(account_id: AccountId, body: CustomerCreate, session: Session) -> CustomerOut:
    customer = await customers.create_customer(session, account_id, **body.service_fields())
    return CustomerOut.of(customer, expand=EXPANDABLE)


@router.get("/by-external-id/{external_id:path}")
async def get_customer_by_external_id(
    account_id: AccountId, external_id: str, expand: Expand, session: Session
) -> CustomerOut:
    """The customer with your own id for it; ids containing '/' work too (send it as %2F or as is)."""
    return CustomerOut.of(await customers.get_by_external_id(session, account_id, external_id), expand=expand)


@router.get("/{customer_id}")
async def get_customer(account_id: AccountId, customer_id: str, expand: Expand, session: Session) -> CustomerOut:
    return CustomerOut.of(await customers.get_customer(session, account_id, customer_id), expand=expand)


@router.put("/{customer_id}")
async def update_customer(
    account_id: AccountId, customer_id: str, body: CustomerUpdate, session: Session
) -> CustomerOut:
    """A partial update, whatever the verb: fields not sent keep their values; null clears one."""
    customer = await customers.update_customer(session, account_id, customer_id, body.service_fields())
    return CustomerOut.of(customer, expand=EXPANDABLE)


@router.post("/{customer_id}/addresses", status_code=status.HTTP_201_CREATED)
async def create_customer_address(
    account_id: AccountId, customer_id: str, body: AddressCreate, session: Session
) -> AddressOut:
    """Sets the customer's billing (default) or shipping address to a new one."""
    address = body.model_dump(exclude={"address_type"})
    stored = await customers.add_address(session, account_id, customer_id, body.address_type, address)
    return AddressOut.model_validate(stored)
