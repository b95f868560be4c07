"""Paid's ``customers``: the same customers (and ``cus_`` ids) as PaymentKit's, by id or by the merchant's external
id, with their state (live orders and open checkout links). Paid's ``name`` is the customer's full name (first and
last name in PaymentKit), ``legalName`` its business name, ``vatNumber`` its first tax id, ``billingAddress`` its
address, ``defaultCurrency`` its currency (USD, Paid's default, while it has none). Customers are never drafts;
``churnDate`` marks one churned. Aliases, credits, customer units and users aren't served (404)."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Annotated, Any, Final, Literal

from babel import Locale
from fastapi import APIRouter, Path, Query, Request, status
from pydantic import AfterValidator, AwareDatetime, EmailStr, Field, StringConstraints, WithJsonSchema

from checkstand.api.http.unit_of_work import Session
from checkstand.api.paid import ids
from checkstand.api.paid.checkouts import CheckoutOut
from checkstand.api.paid.plan_pricing import Currency
from checkstand.api.paid.wire import (
    AccountId,
    Omittable,
    PaidList,
    PaidModel,
    PaidPageParams,
    PaidRequest,
    iso_bound,
)
from checkstand.core import metadata
from checkstand.core.pagination import Page
from checkstand.customers import service as customers
from checkstand.customers.models import Customer
from checkstand.subscriptions import customer_state
from checkstand.subscriptions.models import INCOMPLETE, PAUSED, Subscription

router = APIRouter(prefix="/customers", tags=["paid: customers"])

DEFAULT_CURRENCY: Final = "USD"
DRAFTS_REFUSED: Final = "draft customers aren't kept here: every customer is active"


@cache
def _territories() -> frozenset[str]:
    return frozenset(code for code in map(str, Locale("en").territories) if len(code) == 2)


def _country(code: str) -> str:
    if code.upper() not in _territories():
        raise ValueError("must be a two-letter ISO 3166-1 country code, e.g. US")
    return code.upper()


Country = Annotated[
    str,
    StringConstraints(strip_whitespace=True),
    AfterValidator(_country),
    WithJsonSchema(
        {
            "type": "string",
            "enum": sorted(_territories()),
            "description": "A two-letter ISO 3166-1 country code, upper-case (lower-case is accepted too).",
        }
    ),
]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
FullName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=201)]
Phone = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=40, pattern=r"^\+?(?:[()./ -]*[0-9]){3,}[()./ -]*$")
]
Website = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)]
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=255)]
TaxId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Metadata = Annotated[
    dict[
        Annotated[str, StringConstraints(min_length=1, max_length=metadata.MAX_KEY_LENGTH)],
        Annotated[str, Field(max_length=metadata.MAX_VALUE_LENGTH)] | None,
    ],
    Field(
        max_length=metadata.MAX_KEYS,
        description='String values; on update merged into the current metadata, a key set to null or "" removed.',
    ),
]
ExternalIdPath = Annotated[str, Path(min_length=1, max_length=255, description="Your own id for the customer.")]


class BillingAddressIn(PaidRequest):
    line1: Text | None = None
    line2: Text | None = None
    city: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    state: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    zip_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] | None = None
    country: Country | None = None

    def stored(self) -> dict[str, Any]:
        return self.model_dump(by_alias=False)


class BillingAddressOut(PaidModel):
    line1: str | None
    line2: str | None
    city: str | None
    state: str | None
    zip_code: str | None
    country: str | None

    @classmethod
    def of(cls, address: dict[str, Any] | None) -> BillingAddressOut | None:
        if not address:
            return None
        return cls(**{name: address.get(name) for name in ("line1", "line2", "city", "state", "zip_code", "country")})


class ConnectionsOut(PaidModel):
    stripe: dict[str, str] | None = None


class CustomerOut(PaidModel):
    """The SDK's ``Customer``; an email, phone or website the customer has none of is "" (the type wants one)."""

    id: str
    name: str
    legal_name: str | None
    email: str
    phone: str
    website: str
    external_id: str | None
    billing_address: BillingAddressOut | None
    creation_state: Literal["active"] = "active"
    status: Literal["active", "churned"]
    churn_date: datetime | None
    vat_number: str | None
    metadata: dict[str, Any]
    default_currency: str
    connections: ConnectionsOut = ConnectionsOut()
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, customer: Customer) -> CustomerOut:
        return cls(
            id=customer.id,
            name=customer.name or "",
            legal_name=customer.business_name,
            email=customer.email or "",
            phone=customer.phone or "",
            website=customer.website or "",
            external_id=customer.external_id,
            billing_address=BillingAddressOut.of(customer.address),
            status="churned" if customer.churned_at is not None else "active",
            churn_date=customer.churned_at,
            vat_number=customer.tax_ids[0] if customer.tax_ids else None,
            metadata=customer.customer_metadata,
            default_currency=_default_currency(customer),
            created_at=customer.created_at,
            updated_at=customer.updated_at,
        )


def _default_currency(customer: Customer) -> str:
    return customer.currency.upper() if customer.currency else DEFAULT_CURRENCY


def _active_only(state: str | None) -> str | None:
    if state not in (None, "active"):
        raise ValueError(DRAFTS_REFUSED if state == "draft" else "must be active")
    return state


class CustomerFields(PaidRequest):
    legal_name: Text | None = None
    email: EmailStr | None = None
    phone: Phone | None = None
    website: Website | None = None
    external_id: ExternalId | None = Field(default=None, description="Your own id for it, unique in the account.")
    billing_address: BillingAddressIn | None = None
    creation_state: Annotated[
        str | None,
        AfterValidator(_active_only),
        WithJsonSchema({"enum": ["active", None], "description": f"Only active: {DRAFTS_REFUSED}."}),
    ] = None
    vat_number: TaxId | None = Field(default=None, description="Replaces the customer's tax ids with this one.")
    metadata: Metadata | None = None

    def service_fields(self) -> dict[str, Any]:
        """What the client sent, in the customers service's words; null clears a field."""
        sent = self.model_dump(
            by_alias=False,
            exclude_unset=True,
            exclude={"legal_name", "billing_address", "creation_state", "vat_number"},
        )
        renamed = {"legal_name": "business_name", "billing_address": "address", "vat_number": "tax_ids"}
        for wire, field in renamed.items():
            if wire in self.model_fields_set:
                sent[field] = getattr(self, wire)
        if "address" in sent and self.billing_address is not None:
            sent["address"] = self.billing_address.stored()
        if "tax_ids" in sent:
            sent["tax_ids"] = [] if self.vat_number is None else [self.vat_number]
        return sent


class CustomerCreate(CustomerFields):
    name: FullName
    default_currency: Currency | None = None

    def service_fields(self) -> dict[str, Any]:
        sent = super().service_fields()
        sent["name"] = self.name
        sent.setdefault("email", None)
        sent["currency"] = sent.pop("default_currency", None)
        if self.metadata is not None:
            sent["metadata"] = {key: value for key, value in self.metadata.items() if value}
        return sent


class CustomerUpdate(CustomerFields):
    """A partial update: fields left out keep their values, null clears one that may be empty."""

    name: Omittable[FullName] = None
    churn_date: AwareDatetime | None = Field(
        default=None, description="Marks the customer churned (status churned); null marks it active again."
    )

    def service_fields(self) -> dict[str, Any]:
        sent = super().service_fields()
        if "churn_date" in sent:
            sent["churned_at"] = sent.pop("churn_date")
        return sent


class StateCustomerOut(PaidModel):
    id: str
    name: str
    external_id: str | None
    billing_address: BillingAddressOut | None


class StateOrderOut(PaidModel):
    """An order in effect: a subscription not ended (``ord_X`` is ``sub_X``). ``endDate`` and ``effectiveUntil``
    are the end of the current period once it is set to cancel then."""

    id: str
    external_id: str | None = None
    name: str
    state: Literal["draft", "active", "paused"]
    currency: str
    start_date: datetime
    end_date: datetime | None
    effective_until: datetime | None

    @classmethod
    def of(cls, subscription: Subscription) -> StateOrderOut:
        ending = subscription.current_period_end if subscription.cancel_at_period_end else None
        if subscription.status == INCOMPLETE:
            state: Literal["draft", "active", "paused"] = "draft"
        elif subscription.status == PAUSED or subscription.paused_at is not None:
            state = "paused"
        else:
            state = "active"
        return cls(
            id=ids.order_id(subscription.id, subscription.checkout_session_id or ""),
            name=", ".join(item.product_name for item in subscription.items) or (subscription.description or ""),
            state=state,
            currency=subscription.currency.upper(),
            start_date=subscription.billing_anchor or subscription.current_period_start,
            end_date=ending,
            effective_until=ending,
        )


class SeatsOut(PaidModel):
    """Seats aren't served: none."""

    total: int = 0
    assigned: int = 0
    unassigned: int = 0
    data: list[dict[str, Any]] = []


class CheckoutLinkOut(PaidModel):
    id: str
    url: str
    status: str
    product_ids: list[str]
    single_use: bool
    allowed_currencies: list[str]
    expires_at: datetime | None


class CreditsOut(PaidModel):
    """Credits aren't served: no balances."""

    balances: list[dict[str, Any]] = []


class CustomerStateOut(PaidModel):
    """The SDK's ``CustomerState``: the customer's orders in effect and its open checkout links, as of
    ``timestamp`` (its test clock's time, if it lives on one)."""

    customer: StateCustomerOut
    default_currency: str
    orders: list[StateOrderOut]
    seats: SeatsOut = SeatsOut()
    checkout_links: list[CheckoutLinkOut]
    credits: CreditsOut = CreditsOut()
    timestamp: datetime

    @classmethod
    def of(cls, state: customer_state.CustomerState, *, public_url: str) -> CustomerStateOut:
        customer = state.customer
        links = []
        for checkout in state.checkouts:
            fields = CheckoutOut.fields_of(checkout, public_url=public_url, external_id=customer.external_id)
            links.append(
                CheckoutLinkOut(
                    id=fields["id"],
                    url=fields["url"],
                    status=fields["status"],
                    product_ids=[product.id for product in fields["products"]],
                    single_use=fields["single_use"],
                    allowed_currencies=fields["allowed_currencies"],
                    expires_at=fields["expires_at"],
                )
            )
        return cls(
            customer=StateCustomerOut(
                id=customer.id,
                name=customer.name or "",
                external_id=customer.external_id,
                billing_address=BillingAddressOut.of(customer.address),
            ),
            default_currency=_default_currency(customer),
            orders=[StateOrderOut.of(subscription) for subscription in state.subscriptions],
            checkout_links=links,
            timestamp=state.at,
        )


class EmptyOut(PaidModel):
    pass


def _public_url(request: Request) -> str:
    url: str = request.app.state.settings.resolved_public_url
    return url


@router.get("/")
async def list_customers(
    account_id: AccountId,
    page: PaidPageParams,
    session: Session,
    name: Annotated[str | None, Query(max_length=201, description="Part of the name or legal name, any case.")] = None,
    customer_status: Annotated[Literal["active", "churned"] | None, Query(alias="status")] = None,
    creation_state: Annotated[Literal["active", "draft"] | None, Query(alias="creationState")] = None,
    created_at_from: Annotated[str | None, Query(alias="createdAtFrom", max_length=40)] = None,
    created_at_to: Annotated[str | None, Query(alias="createdAtTo", max_length=40)] = None,
    external_id: Annotated[str | None, Query(alias="externalId", max_length=255)] = None,
) -> PaidList[CustomerOut]:
    """Newest first. Every customer is active in creationState terms, so draft lists none."""
    if creation_state == "draft":
        return PaidList.of(Page(items=[], total=0, limit=page.limit, offset=page.offset), [])
    found = await customers.find_customers(
        session,
        account_id,
        page,
        name=name,
        churned=None if customer_status is None else customer_status == "churned",
        created_from=iso_bound(created_at_from, "createdAtFrom", end=False),
        created_to=iso_bound(created_at_to, "createdAtTo", end=True),
        external_id=external_id,
    )
    return PaidList.of(found, [CustomerOut.of(customer) for customer in found.items])


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_customer(account_id: AccountId, body: CustomerCreate, session: Session) -> CustomerOut:
    customer = await customers.create_customer(session, account_id, **body.service_fields())
    return CustomerOut.of(customer)


@router.get("/external/{external_id:path}/state")
async def get_customer_state_by_external_id(
    account_id: AccountId, external_id: ExternalIdPath, session: Session, request: Request
) -> CustomerStateOut:
    state = await customer_state.customer_state(session, account_id, external_id=external_id)
    return CustomerStateOut.of(state, public_url=_public_url(request))


@router.get("/external/{external_id:path}")
async def get_customer_by_external_id(
    account_id: AccountId, external_id: ExternalIdPath, session: Session
) -> CustomerOut:
    return CustomerOut.of(await customers.get_by_external_id(session, account_id, external_id))


@router.put("/external/{external_id:path}")
async def update_customer_by_external_id(
    account_id: AccountId, external_id: ExternalIdPath, body: CustomerUpdate, session: Session
) -> CustomerOut:
    changes = body.service_fields()
    return CustomerOut.of(await customers.update_customer(session, account_id, None, changes, external_id=external_id))


@router.delete("/external/{external_id:path}")
async def delete_customer_by_external_id(
    account_id: AccountId, external_id: ExternalIdPath, session: Session
) -> EmptyOut:
    """Refused (409) while the customer has a live subscription or an open checkout."""
    await customer_state.delete_customer(session, account_id, external_id=external_id)
    return EmptyOut()


@router.get("/{customer_id}/state")
async def get_customer_state_by_id(
    account_id: AccountId, customer_id: str, session: Session, request: Request
) -> CustomerStateOut:
    """Its orders in effect (subscriptions not ended) and open checkout links; no seats and no credits (not
    served)."""
    state = await customer_state.customer_state(session, account_id, customer_id)
    return CustomerStateOut.of(state, public_url=_public_url(request))


@router.get("/{customer_id}")
async def get_customer_by_id(account_id: AccountId, customer_id: str, session: Session) -> CustomerOut:
    return CustomerOut.of(await customers.get_customer(session, account_id, customer_id))


@router.put("/{customer_id}")
async def update_customer_by_id(
    account_id: AccountId, customer_id: str, body: CustomerUpdate, session: Session
) -> CustomerOut:
    """A partial update: fields left out keep their values; metadata is merged."""
    return CustomerOut.of(await customers.update_customer(session, account_id, customer_id, body.service_fields()))


@router.delete("/{customer_id}")
async def delete_customer_by_id(account_id: AccountId, customer_id: str, session: Session) -> EmptyOut:
    """Kept for its history and answered as unknown from then on, in both dialects; its external id is freed.
    Refused (409) while the customer has a live subscription or an open checkout."""
    await customer_state.delete_customer(session, account_id, customer_id)
    return EmptyOut()
