"""``product-families/``: the tiers of a product line; a product's rank decides upgrade versus downgrade."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import Field

from checkstand.api.http.auth import AccountId
from checkstand.api.http.query import list_query
from checkstand.api.http.unit_of_work import Session
from checkstand.api.paymentkit.common import Omittable, PageOut, ResponseModel, WholeNumber, WireModel
from checkstand.api.paymentkit.products import Description, Name, ObjectId
from checkstand.catalog import service as catalog
from checkstand.catalog.models import ProductFamily
from checkstand.core.listing import ListParams

router = APIRouter(prefix="/api/{account_id}/product-families", tags=["product-families"])

IncludeDeleted = Annotated[bool, Query(description="Include deleted families.")]


class ProductFamilyOut(ResponseModel):
    """The SDK's ``ProductFamily``: ``hierarchy`` maps product id to rank, lowest tier first."""

    id: str
    account_id: str
    name: str
    description: str | None
    hierarchy: dict[str, int]
    deleted_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, family: ProductFamily) -> ProductFamilyOut:
        return cls(
            id=family.id,
            account_id=family.account_id,
            name=family.name,
            description=family.description,
            hierarchy={m.product_id: m.rank for m in sorted(family.members, key=lambda m: m.rank)},
            deleted_at=family.deleted_at,
            created_at=family.created_at,
            updated_at=family.updated_at,
        )


ProductFamilyPage = PageOut[ProductFamilyOut]


class HierarchyItem(WireModel):
    product_id: ObjectId
    # The database's INTEGER: a rank outside it would be a 500 instead of a 422.
    rank: WholeNumber = Field(ge=-(2**31), le=2**31 - 1, description="Higher is a higher tier.")


Hierarchy = Annotated[list[HierarchyItem], Field(max_length=catalog.MAX_FAMILY_SIZE)]


def _pairs(hierarchy: list[HierarchyItem] | None) -> list[tuple[str, int]]:
    return [(item.product_id, item.rank) for item in hierarchy or []]


class ProductFamilyCreate(WireModel):
    name: Name
    description: Description | None = None
    hierarchy: Hierarchy | None = Field(default=None, description="The initial tiers.")


class ProductFamilyUpdate(WireModel):
    name: Omittable[Name] = None
    description: Description | None = None


class HierarchyReplace(WireModel):
    hierarchy: Hierarchy = Field(description="Every tier; products left out leave the family.")


FamilyListQuery = Annotated[ListParams, Depends(list_query(catalog.FAMILY_LIST))]


@router.get("/")
async def list_product_families(
    account_id: AccountId, session: Session, params: FamilyListQuery, include_deleted: IncludeDeleted = False
) -> ProductFamilyPage:
    page = await catalog.list_families(session, account_id, params, include_deleted=include_deleted)
    items = [ProductFamilyOut.of(family) for family in page.items]
    return ProductFamilyPage(items=items, total=page.total, has_more=page.has_more)


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_product_family(account_id: AccountId, body: ProductFamilyCreate, session: Session) -> ProductFamilyOut:
    family = await catalog.create_family(
        session, account_id, name=body.name, description=body.description, hierarchy=_pairs(body.hierarchy)
    )
    return ProductFamilyOut.of(family)


@router.get("/{family_id}")
async def get_product_family(
    account_id: AccountId, family_id: str, session: Session, include_deleted: IncludeDeleted = False
) -> ProductFamilyOut:
    return ProductFamilyOut.of(
        await catalog.get_family(session, account_id, family_id, include_deleted=include_deleted)
    )


@router.patch("/{family_id}")
async def update_product_family(
    account_id: AccountId, family_id: str, body: ProductFamilyUpdate, session: Session
) -> ProductFamilyOut:
    family = await catalog.update_family(session, account_id, family_id, body.model_dump(exclude_unset=True))
    return ProductFamilyOut.of(family)


@router.delete("/{family_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_product_family(account_id: AccountId, family_id: str, session: Session) -> Response:
    """Soft delete: readable with ``include_deleted``; its products may join another family."""
    await catalog.delete_family(session, account_id, family_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/{family_id}/hierarchy")
async def update_hierarchy(
    account_id: AccountId, family_id: str, body: HierarchyReplace, session: Session
) -> ProductFamilyOut:
    family = await catalog.replace_hierarchy(session, account_id, family_id, _pairs(body.hierarchy))
    return ProductFamilyOut.of(family)


@router.post("/{family_id}/products")
async def add_product_to_family(
    account_id: AccountId, family_id: str, body: HierarchyItem, session: Session
) -> ProductFamilyOut:
    family = await catalog.add_to_family(session, account_id, family_id, body.product_id, body.rank)
    return ProductFamilyOut.of(family)


@router.delete("/{family_id}/products/{product_id}")
async def remove_product_from_family(
    account_id: AccountId, family_id: str, product_id: str, session: Session
) -> ProductFamilyOut:
    return ProductFamilyOut.of(await catalog.remove_from_family(session, account_id, family_id, product_id))
