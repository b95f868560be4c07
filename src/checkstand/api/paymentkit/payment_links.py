"""``payment-links/``: the SDK's ``PaymentLink``, a reusable link whose every visit opens a checkout session of its
own (:mod:`checkstand.payment_links.service`), plus the sessions its visits opened."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, status
from pydantic import Field

from checkstand.api.http.auth import AccountId
from checkstand.api.http.query import Pagination, list_query
from checkstand.api.http.unit_of_work import Session
from checkstand.api.paymentkit.checkout_sessions import CheckoutSessionOut
from checkstand.api.paymentkit.common import WEB_URL_SCHEMA, Metadata, Omittable, PageOut, ResponseModel, WireModel
from checkstand.api.paymentkit.products import MetadataChanges, Name
from checkstand.checkout import service as checkout_service
from checkstand.core.listing import ListParams
from checkstand.payment_links import service as payment_links
from checkstand.payment_links.models import PaymentLink, PaymentLinkLineItem

router = APIRouter(prefix="/api/{account_id}/payment-links", tags=["payment-links"])

Url = Annotated[str, Field(min_length=1, max_length=2048, json_schema_extra=WEB_URL_SCHEMA)]


# --- Requests -------------------------------------------------------------------------------------------------------


class PaymentLinkLineItemIn(WireModel):
    """The SDK's ``PaymentLinkLineItemCreate``."""

    price_id: Annotated[str, Field(min_length=1, max_length=64)]
    quantity: Annotated[int, Field(ge=1, le=checkout_service.MAX_QUANTITY)] | None = None
    description: Annotated[str, Field(max_length=500)] | None = None

    def to_spec(self) -> checkout_service.LineItemSpec:
        return checkout_service.LineItemSpec(
            self.price_id, 1 if self.quantity is None else self.quantity, self.description
        )


class PaymentLinkCreate(WireModel):
    success_url: Url
    line_items: Annotated[list[PaymentLinkLineItemIn], Field(min_length=1, max_length=checkout_service.MAX_LINE_ITEMS)]
    name: Name | None = None
    mode: Literal["payment", "subscription"] | None = Field(
        default=None, description="Left out: subscription when a line item's price recurs, else payment."
    )
    customer_id: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="Every session the link opens is this customer's."
    )
    return_url: Url | None = Field(
        default=None, description="The page's way back; left out, it leads to the success URL's site (its origin)."
    )
    expires_in_hours: (
        Annotated[int, Field(ge=checkout_service.MIN_EXPIRY_HOURS, le=checkout_service.MAX_EXPIRY_HOURS)] | None
    ) = Field(default=None, description="How long each session the link opens stays open; 24 if left out.")
    metadata: Metadata | None = Field(default=None, description="Copied into every session the link opens.")
    coupon_id: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="Checkstand's extra: every session the link opens is discounted by this coupon."
    )
    promotion_code: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None,
        description="Checkstand's extra, in place of coupon_id: every session the link opens applies this code "
        "(its limits are counted when a session completes).",
    )

    def to_spec(self) -> payment_links.NewPaymentLink:
        return payment_links.NewPaymentLink(
            success_url=self.success_url,
            line_items=[item.to_spec() for item in self.line_items],
            name=self.name,
            mode=self.mode,
            customer_id=self.customer_id,
            return_url=self.return_url,
            expires_in_hours=self.expires_in_hours or checkout_service.DEFAULT_EXPIRY_HOURS,
            coupon_id=self.coupon_id,
            promotion_code=self.promotion_code,
            metadata=self.metadata or {},
        )


class PaymentLinkUpdate(WireModel):
    name: Name | None = None
    is_active: Omittable[bool] = Field(default=None, description="False refuses visits; true takes them again.")
    success_url: Omittable[Url] = None
    return_url: Url | None = None
    metadata: MetadataChanges | None = None


# --- Responses ------------------------------------------------------------------------------------------------------


class PaymentLinkLineItemOut(ResponseModel):
    id: str
    price_id: str
    quantity: int
    description: str | None
    created_at: datetime
    updated_at: datetime


class PaymentLinkOut(ResponseModel):
    id: str
    secure_token: str
    url: str
    name: str | None
    mode: str
    customer_id: str | None
    success_url: str
    return_url: str | None
    expires_in_hours: int
    is_active: bool
    line_items: list[PaymentLinkLineItemOut]
    metadata: dict[str, Any]
    coupon_id: str | None = Field(description="Checkstand's extra: the coupon every session is discounted by.")
    promotion_code: str | None = Field(description="Checkstand's extra: the code every session applies.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, link: PaymentLink, *, public_url: str) -> PaymentLinkOut:
        return cls(
            id=link.id,
            secure_token=link.secure_token,
            url=f"{public_url}{payment_links.PUBLIC_PATH}/{link.secure_token}",
            name=link.name,
            mode=link.mode,
            customer_id=link.customer_id,
            success_url=link.success_url,
            return_url=link.return_url,
            expires_in_hours=link.expires_in_hours,
            is_active=link.is_active,
            line_items=[_line(item) for item in link.line_items],
            metadata=link.link_metadata,
            coupon_id=link.coupon_id,
            promotion_code=link.promotion_code,
            created_at=link.created_at,
            updated_at=link.updated_at,
        )


def _line(item: PaymentLinkLineItem) -> PaymentLinkLineItemOut:
    return PaymentLinkLineItemOut.model_validate(item)


def _out(request: Request, link: PaymentLink) -> PaymentLinkOut:
    return PaymentLinkOut.of(link, public_url=request.app.state.settings.resolved_public_url)


# --- Endpoints ------------------------------------------------------------------------------------------------------

PaymentLinkListQuery = Annotated[ListParams, Depends(list_query(payment_links.LIST_SPEC))]


@router.get("/")
async def list_payment_links(
    account_id: AccountId, params: PaymentLinkListQuery, request: Request, session: Session
) -> PageOut[PaymentLinkOut]:
    page = await payment_links.list_links(session, account_id, params)
    return PageOut[PaymentLinkOut].of(page, [_out(request, link) for link in page.items])


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_payment_link(
    account_id: AccountId, body: PaymentLinkCreate, request: Request, session: Session
) -> PaymentLinkOut:
    """Its line items are checked as a checkout session's are (same rules, same messages); its ``url`` opens a new
    session at every visit."""
    return _out(request, await payment_links.create_link(session, account_id, body.to_spec()))


@router.get("/{link_id}")
async def get_payment_link(account_id: AccountId, link_id: str, request: Request, session: Session) -> PaymentLinkOut:
    return _out(request, await payment_links.get_link(session, account_id, link_id))


@router.patch("/{link_id}")
async def update_payment_link(
    account_id: AccountId, link_id: str, body: PaymentLinkUpdate, request: Request, session: Session
) -> PaymentLinkOut:
    """What it sells is fixed (a new offer is a new link); reactivating re-checks that it can still be sold."""
    changes = body.model_dump(exclude_unset=True)
    return _out(request, await payment_links.update_link(session, account_id, link_id, changes))


@router.delete("/{link_id}")
async def deactivate_payment_link(
    account_id: AccountId, link_id: str, request: Request, session: Session
) -> PaymentLinkOut:
    """Visits are refused from now on (the link's page says it is no longer available); the link stays readable."""
    return _out(request, await payment_links.deactivate_link(session, account_id, link_id))


@router.get("/{link_id}/checkout-sessions")
async def list_payment_link_checkout_sessions(
    account_id: AccountId, link_id: str, page: Pagination, request: Request, session: Session
) -> PageOut[CheckoutSessionOut]:
    """Checkstand's extra: the sessions the link's visits opened, newest first."""
    found = await payment_links.list_sessions(session, account_id, link_id, page)
    public_url = request.app.state.settings.resolved_public_url
    return PageOut[CheckoutSessionOut].of(
        found, [CheckoutSessionOut.of(c, public_url=public_url, expand_custom_fields=False) for c in found.items]
    )
