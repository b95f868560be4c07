"""``products/``: the catalog's products, and the wire shapes of products and prices that the prices router shares
(a product's own prices are listed here)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import Field, StringConstraints

from checkstand.api.http.auth import AccountId
from checkstand.api.http.query import expand_query, list_query
from checkstand.api.http.unit_of_work import Session
from checkstand.api.paymentkit.common import Metadata, Omittable, PageOut, ResponseModel, WireModel
from checkstand.catalog import service as catalog
from checkstand.catalog.models import METERED, Price, Product
from checkstand.core import metadata
from checkstand.core.listing import ListParams

router = APIRouter(prefix="/api/{account_id}/products", tags=["products"])

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=250)]
Description = Annotated[str, Field(max_length=1000)]
ObjectId = Annotated[str, Field(min_length=1, max_length=64)]
MetadataIn = Annotated[Metadata, Field(max_length=metadata.MAX_KEYS)]
MetadataChanges = Annotated[
    dict[
        Annotated[str, StringConstraints(min_length=1, max_length=40)],
        Annotated[str, Field(max_length=500)] | None,
    ],
    Field(
        max_length=metadata.MAX_KEYS,
        description='Merged into the stored metadata; a key set to null or "" is removed, null removes all.',
    ),
]
CustomFieldChanges = Annotated[
    dict[str, Any], Field(description="Values of the account's custom fields; a key set to null removes it.")
]

# Custom fields are left out unless asked for, as the SDK documents.
Expand = Annotated[frozenset[str], Depends(expand_query("custom_fields"))]
IncludeDeleted = Annotated[bool, Query(description="Include deleted (archived) products.")]


class ProductOut(ResponseModel):
    """The SDK's ``Product``, plus ``deleted_at`` so a client can tell an archived product from a paused one."""

    id: str
    account_id: str
    name: str
    description: str | None
    is_active: bool
    default_price_id: str | None
    note_id: str | None = None
    metadata: dict[str, Any]
    custom_fields: dict[str, Any] | None
    deleted_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def fields_of(cls, product: Product, *, custom_fields: bool) -> dict[str, Any]:
        return {
            "id": product.id,
            "account_id": product.account_id,
            "name": product.name,
            "description": product.description,
            "is_active": product.is_active,
            "default_price_id": product.default_price_id,
            "metadata": product.product_metadata,
            "custom_fields": product.custom_fields if custom_fields else None,
            "deleted_at": product.deleted_at,
            "created_at": product.created_at,
            "updated_at": product.updated_at,
        }

    @classmethod
    def of(cls, product: Product, *, custom_fields: bool = True) -> ProductOut:
        return cls(**cls.fields_of(product, custom_fields=custom_fields))


class ProductListItemOut(ProductOut):
    total_prices: int = Field(description="Prices of the product, archived ones included.")

    @classmethod
    def with_total(cls, product: Product, total_prices: int, *, custom_fields: bool) -> ProductListItemOut:
        return cls(**cls.fields_of(product, custom_fields=custom_fields), total_prices=total_prices)


ProductPage = PageOut[ProductListItemOut]


class PriceOut(ResponseModel):
    """The SDK's ``Price``."""

    id: str
    account_id: str
    product_id: str
    name: str | None
    unit_amount_atom: int
    currency: str
    is_active: bool
    unit_label: str | None
    pricing_type: str
    recurring_interval: str | None
    recurring_interval_count: int | None
    auto_renew: bool | None
    contract_term_multiple: int | None = None
    trial_days: int
    usage_type: str = "licensed"
    metered_id: str | None = None
    usage_aggregation: str | None = Field(
        default=None, description="Checkstand extension: a metered price's aggregation (sum, max or last); else null."
    )
    billing_scheme: str = "per_unit"
    tier_amount_info: dict[str, Any] | None = None
    prerequisite_price_ids: list[str] | None = None
    exclusive_customer_ids: list[str] | None = None
    metadata: dict[str, Any]
    custom_fields: dict[str, Any] | None
    quantity_divisor: int | None = None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def fields_of(cls, price: Price, *, custom_fields: bool) -> dict[str, Any]:
        return {
            "id": price.id,
            "account_id": price.account_id,
            "product_id": price.product_id,
            "name": price.name,
            "unit_amount_atom": price.unit_amount_atom,
            "currency": price.currency,
            "is_active": price.is_active,
            "unit_label": price.unit_label,
            "pricing_type": price.pricing_type,
            "recurring_interval": price.recurring_interval,
            "recurring_interval_count": price.recurring_interval_count,
            "auto_renew": price.auto_renew if price.pricing_type == catalog.RECURRING else None,
            "contract_term_multiple": price.contract_term_multiple,
            "trial_days": price.trial_days,
            "usage_type": price.usage_type,
            "metered_id": price.metered_id,
            "usage_aggregation": price.usage_aggregation if price.usage_type == METERED else None,
            "billing_scheme": price.billing_scheme,
            "tier_amount_info": (
                {"mode": price.tiers_mode, "amount_atoms": price.tiers} if price.tiers is not None else None
            ),
            "quantity_divisor": price.quantity_divisor,
            "prerequisite_price_ids": price.prerequisite_price_ids,
            "exclusive_customer_ids": price.exclusive_customer_ids,
            "metadata": price.price_metadata,
            "custom_fields": price.custom_fields if custom_fields else None,
            "created_at": price.created_at,
            "updated_at": price.updated_at,
        }

    @classmethod
    def of(cls, price: Price, *, custom_fields: bool = True) -> PriceOut:
        return cls(**cls.fields_of(price, custom_fields=custom_fields))


PricePage = PageOut[PriceOut]


class ProductCreate(WireModel):
    name: Name
    is_active: bool | None = Field(default=None, description="Sellable; true when omitted.")
    description: Description | None = None
    default_price_id: ObjectId | None = Field(
        default=None, description="An active price of this product; a new product has none yet."
    )
    metadata: MetadataIn | None = None
    custom_fields: CustomFieldChanges | None = None


class ProductUpdate(WireModel):
    """Only the fields sent change; null clears ``description`` and ``default_price_id``."""

    # Omitted keeps the value; an explicit null would leave the product without one.
    name: Omittable[Name] = None
    is_active: Omittable[bool] = None
    description: Description | None = None
    default_price_id: ObjectId | None = None
    metadata: MetadataChanges | None = None
    custom_fields: CustomFieldChanges | None = None


ProductListQuery = Annotated[ListParams, Depends(list_query(catalog.PRODUCT_LIST))]


@router.get("/")
async def list_products(
    account_id: AccountId,
    session: Session,
    params: ProductListQuery,
    expand: Expand,
    include_deleted: IncludeDeleted = False,
) -> ProductPage:
    """Newest first; deleted products only with ``include_deleted``."""
    page = await catalog.list_products(session, account_id, params, include_deleted=include_deleted)
    totals = await catalog.count_prices(session, account_id, [product.id for product in page.items])
    with_fields = "custom_fields" in expand
    items = [ProductListItemOut.with_total(p, totals[p.id], custom_fields=with_fields) for p in page.items]
    return ProductPage(items=items, total=page.total, has_more=page.has_more)


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_product(account_id: AccountId, body: ProductCreate, session: Session) -> ProductOut:
    product = await catalog.create_product(
        session,
        account_id,
        name=body.name,
        description=body.description,
        is_active=body.is_active is not False,
        default_price_id=body.default_price_id,
        metadata=body.metadata,
        custom_fields=body.custom_fields,
    )
    return ProductOut.of(product)


@router.get("/{product_id}")
async def get_product(
    account_id: AccountId, product_id: str, session: Session, expand: Expand, include_deleted: IncludeDeleted = False
) -> ProductListItemOut:
    product = await catalog.get_product(session, account_id, product_id, include_deleted=include_deleted)
    totals = await catalog.count_prices(session, account_id, [product.id])
    return ProductListItemOut.with_total(product, totals[product.id], custom_fields="custom_fields" in expand)


@router.patch("/{product_id}")
async def update_product(account_id: AccountId, product_id: str, body: ProductUpdate, session: Session) -> ProductOut:
    product = await catalog.update_product(session, account_id, product_id, body.model_dump(exclude_unset=True))
    return ProductOut.of(product)


@router.delete("/{product_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_product(account_id: AccountId, product_id: str, session: Session) -> Response:
    """Archives the product (it stays readable with ``include_deleted``); refused while it has active prices."""
    await catalog.delete_product(session, account_id, product_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


PriceListQuery = Annotated[ListParams, Depends(list_query(catalog.PRICE_LIST))]


@router.get("/{product_id}/prices")
async def list_product_prices(
    account_id: AccountId, product_id: str, session: Session, params: PriceListQuery, expand: Expand
) -> PricePage:
    page = await catalog.list_product_prices(session, account_id, product_id, params)
    with_fields = "custom_fields" in expand
    items = [PriceOut.of(price, custom_fields=with_fields) for price in page.items]
    return PricePage(items=items, total=page.total, has_more=page.has_more)
