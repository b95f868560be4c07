"""Paid's ``products``: the catalog's products (the same ``prod_`` ids as PaymentKit's), with the merchant's own
external ids, and each product's base pricing (its one product attribute: the default price)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Path, Query, status
from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema

from checkstand.api.http.unit_of_work import Session
from checkstand.api.paid.plan_pricing import AttributeOut, NoCredits, PricingIn, Unserved, located, terms_of
from checkstand.api.paid.wire import AccountId, Omittable, PaidList, PaidModel, PaidPageParams, PaidRequest
from checkstand.catalog import plans
from checkstand.catalog import service as catalog
from checkstand.catalog.models import Product
from checkstand.core import metadata

router = APIRouter(prefix="/products", tags=["paid: products"])

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=250)]
Description = Annotated[str, StringConstraints(max_length=1000)]
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=255)]
ProductCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
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
# Where an update's body carries the fields the catalog may refuse.
ATTRIBUTE_FIELDS: Final = {
    "external_id": ("externalId",),
    "attribute_id": ("productAttributes", 0, "productAttributeId"),
    "default_price_id": ("productAttributes", 0),
}
ExternalIdPath = Annotated[str, Path(min_length=1, max_length=255, description="Your own id for the product.")]


class ProductOut(PaidModel):
    """The SDK's ``Product``: ``active`` is whether it sells, ``archivedAt`` when it was deleted (archived)."""

    id: str
    name: str
    description: str | None
    active: bool
    product_code: str | None
    external_id: str | None
    archived_at: datetime | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, product: Product) -> ProductOut:
        return cls(
            id=product.id,
            name=product.name,
            description=product.description,
            active=product.is_active,
            product_code=product.product_code,
            external_id=product.external_id,
            archived_at=product.deleted_at,
            metadata=product.product_metadata,
            created_at=product.created_at,
            updated_at=product.updated_at,
        )


class ProductDetailOut(ProductOut):
    """The SDK's ``ProductDetail``: the product and its one attribute, its base pricing (none until it has a default
    price)."""

    product_attributes: list[AttributeOut]

    @classmethod
    def of_detail(cls, detail: plans.ProductDetail) -> ProductDetailOut:
        base = detail.base_price
        return cls(
            **ProductOut.of(detail.product).model_dump(),
            product_attributes=[] if base is None else [AttributeOut.of(base)],
        )


class ProductCreate(PaidRequest):
    name: Name
    description: Description | None = None
    active: bool = True
    product_code: ProductCode | None = None
    external_id: ExternalId | None = Field(default=None, description="Your own id for it, unique in the account.")
    metadata: Metadata | None = None


def _not_archived(active: bool | None) -> bool | None:
    if active is False:
        raise ValueError("a product's base pricing can't be archived: archive the product instead")
    return active


class ProductAttributeIn(PaidRequest):
    """The SDK's ``ProductAttributeUpsert``. A product has one attribute (its id is the product's): its base
    pricing, the default price. Given to a product without one, it makes it; given again, it must carry the same
    pricing (a price's terms never change: create a plan and make it the default instead), and may rename it."""

    product_attribute_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    name: Name
    active: Annotated[
        bool | None,
        AfterValidator(_not_archived),
        WithJsonSchema({"enum": [True, None], "description": "A base pricing can't be archived: archive the product."}),
    ] = None
    pricing: PricingIn
    credit_benefits: NoCredits = None
    tax_code: Unserved = None


class ProductUpdate(PaidRequest):
    """A partial update: fields left out keep their values, null clears one that may be empty."""

    name: Omittable[Name] = None
    description: Description | None = None
    active: Omittable[bool] = None
    product_code: ProductCode | None = None
    external_id: ExternalId | None = None
    metadata: Metadata | None = None
    product_attributes: Annotated[list[ProductAttributeIn], Field(max_length=1)] | None = None

    def changes(self) -> dict[str, Any]:
        """The product's fields the client sent, as the catalog takes them."""
        sent = self.model_dump(by_alias=False, exclude_unset=True, exclude={"active", "product_attributes"})
        if self.active is not None:
            sent["is_active"] = self.active
        return sent

    def base_pricing(self) -> plans.BasePricing | None:
        """The base pricing the attribute sets, each refused field named where the body carries it."""
        if not self.product_attributes:
            return None
        attribute = self.product_attributes[0]
        terms = terms_of(attribute.pricing, ("productAttributes", 0, "pricing"))
        return plans.BasePricing(terms=terms, name=attribute.name, attribute_id=attribute.product_attribute_id)


@router.get("/")
async def list_products(
    account_id: AccountId,
    page: PaidPageParams,
    session: Session,
    name: Annotated[str | None, Query(max_length=250, description="Part of the name, any case.")] = None,
    active: Annotated[bool | None, Query(description="Only products that sell (true) or don't.")] = None,
    archived: Annotated[bool | None, Query(description="Only archived products (true) or only the others.")] = None,
) -> PaidList[ProductOut]:
    """Newest first, archived products included unless ``archived`` says otherwise."""
    found = await plans.find_products(session, account_id, page, name=name, active=active, archived=archived)
    return PaidList.of(found, [ProductOut.of(product) for product in found.items])


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_product(account_id: AccountId, body: ProductCreate, session: Session) -> ProductOut:
    """A product without pricing: give it its base pricing with an update (``productAttributes``), or plans."""
    fields = body.model_dump(by_alias=False, exclude={"active"}, exclude_none=True)
    with located((), {"external_id": ("externalId",)}):
        product = await catalog.create_product(session, account_id, is_active=body.active, **fields)
    return ProductOut.of(product)


@router.get("/external/{external_id:path}")
async def get_product_by_external_id(
    account_id: AccountId, external_id: ExternalIdPath, session: Session
) -> ProductDetailOut:
    return ProductDetailOut.of_detail(await plans.product_detail(session, account_id, external_id=external_id))


@router.put("/external/{external_id:path}")
async def update_product_by_external_id(
    account_id: AccountId, external_id: ExternalIdPath, body: ProductUpdate, session: Session
) -> ProductDetailOut:
    return await _update(session, account_id, body, external_id=external_id)


@router.get("/{product_id}")
async def get_product_by_id(account_id: AccountId, product_id: str, session: Session) -> ProductDetailOut:
    """Archived products too, with their base pricing."""
    return ProductDetailOut.of_detail(await plans.product_detail(session, account_id, product_id))


@router.put("/{product_id}")
async def update_product_by_id(
    account_id: AccountId, product_id: str, body: ProductUpdate, session: Session
) -> ProductDetailOut:
    """A partial update: fields left out keep their values. An archived product can't change."""
    return await _update(session, account_id, body, product_id=product_id)


async def _update(
    session: Session,
    account_id: str,
    body: ProductUpdate,
    *,
    product_id: str | None = None,
    external_id: str | None = None,
) -> ProductDetailOut:
    base = body.base_pricing()
    with located(("productAttributes", 0, "pricing"), ATTRIBUTE_FIELDS):
        detail = await plans.update_product_and_pricing(
            session, account_id, product_id, body.changes(), base, external_id=external_id
        )
    return ProductDetailOut.of_detail(detail)
