"""``packages/``: products sold together by billing cycle, each at its monthly or annual price, and their total."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import Field

from checkstand.api.http.auth import AccountId
from checkstand.api.http.query import list_query
from checkstand.api.http.unit_of_work import Session
from checkstand.api.paymentkit.common import Omittable, PageOut, ResponseModel, WholeNumber, WireModel
from checkstand.api.paymentkit.products import Description, MetadataChanges, MetadataIn, Name, ObjectId
from checkstand.catalog import packages
from checkstand.catalog.models import Package
from checkstand.core.listing import ListParams

router = APIRouter(prefix="/api/{account_id}/packages", tags=["packages"])

BillingCycle = Literal["monthly", "annual"]
IncludeDeleted = Annotated[bool, Query(description="Include deleted (archived) packages.")]


class PackageItemOut(ResponseModel):
    """The SDK's ``PackageItem``."""

    id: str
    package_id: str
    product_id: str
    monthly_price_id: str | None
    annual_price_id: str | None
    quantity: int
    description: str | None
    created_at: datetime
    updated_at: datetime


class PackageOut(ResponseModel):
    """The SDK's ``Package``, plus its ``metadata``."""

    id: str
    account_id: str
    name: str
    description: str | None
    is_active: bool
    allow_monthly: bool
    allow_annual: bool
    default_billing_cycle: str = Field(description="monthly or annual.")
    items: list[PackageItemOut]
    metadata: dict[str, Any]
    deleted_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, package: Package) -> PackageOut:
        return cls(
            id=package.id,
            account_id=package.account_id,
            name=package.name,
            description=package.description,
            is_active=package.is_active,
            allow_monthly=package.allow_monthly,
            allow_annual=package.allow_annual,
            default_billing_cycle=package.default_billing_cycle,
            items=[PackageItemOut.model_validate(item) for item in package.items],
            metadata=package.package_metadata,
            deleted_at=package.deleted_at,
            created_at=package.created_at,
            updated_at=package.updated_at,
        )


PackagePage = PageOut[PackageOut]


class PackageItemIn(WireModel):
    """The SDK's ``PackageItemRequest``. Its ids are the objects' own ids (``prod_...``, ``price_...``)."""

    product_id: ObjectId = Field(description="A product of the account, at most once per package.")
    monthly_price_id: ObjectId | None = Field(
        default=None,
        description="A price of that product recurring every month; needed when the package allows monthly billing.",
    )
    annual_price_id: ObjectId | None = Field(
        default=None,
        description="A price of that product recurring every year; needed when the package allows annual billing.",
    )
    quantity: WholeNumber | None = Field(
        default=None, ge=1, le=packages.MAX_ITEM_QUANTITY, description="How many of the product; 1 when left out."
    )
    description: Description | None = None

    def to_spec(self) -> packages.ItemSpec:
        return packages.ItemSpec(
            product_id=self.product_id,
            monthly_price_id=self.monthly_price_id,
            annual_price_id=self.annual_price_id,
            quantity=self.quantity or 1,
            description=self.description,
        )


Items = Annotated[
    list[PackageItemIn],
    Field(
        min_length=1,
        max_length=packages.MAX_PACKAGE_ITEMS,
        description="At least one item; all the package's prices are in one currency.",
    ),
]


class PackageCreate(WireModel):
    name: Name
    description: Description | None = None
    is_active: bool | None = Field(default=None, description="Sellable; true when omitted.")
    allow_monthly: bool | None = Field(default=None, description="Sold monthly; true when omitted.")
    allow_annual: bool | None = Field(default=None, description="Sold annually; false when omitted.")
    default_billing_cycle: BillingCycle | None = Field(
        default=None,
        description="The cycle a checkout sells when none is asked for, among those allowed; monthly when allowed.",
    )
    items: Items
    metadata: MetadataIn | None = None


class PackageUpdate(WireModel):
    """Only the fields sent change; ``items`` replace every item. The package is checked whole afterwards: allowing
    a cycle needs a price for it on every item."""

    name: Omittable[Name] = None
    description: Description | None = None
    is_active: Omittable[bool] = None
    allow_monthly: Omittable[bool] = None
    allow_annual: Omittable[bool] = None
    default_billing_cycle: Omittable[BillingCycle] = Field(
        default=None, description="Chooses between two allowed cycles; with one allowed, the default is that one."
    )
    items: Omittable[Items] = None
    metadata: MetadataChanges | None = None


class CalculateTotalIn(WireModel):
    billing_cycle: BillingCycle = Field(description="A cycle the package is sold in.")


class PackageLineOut(ResponseModel):
    product_id: str
    price_id: str
    quantity: int
    amount_atom: int = Field(description="The price for the quantity, exact for any pricing scheme.")


class CalculateTotalOut(ResponseModel):
    """The SDK's ``CalculatePackageTotalResponse``."""

    billing_cycle: str
    currency: str
    total_amount_atom: int = Field(description="The items' amounts added up, in the currency's minor unit.")
    items: list[PackageLineOut]

    @classmethod
    def of(cls, total: packages.PackageTotal) -> CalculateTotalOut:
        return cls(
            billing_cycle=total.billing_cycle,
            currency=total.currency,
            total_amount_atom=total.total_amount_atom,
            items=[
                PackageLineOut(
                    product_id=line.product_id,
                    price_id=line.price.id,
                    quantity=line.quantity,
                    amount_atom=line.amount_atom,
                )
                for line in total.lines
            ],
        )


PackageListQuery = Annotated[ListParams, Depends(list_query(packages.PACKAGE_LIST))]


@router.get("/")
async def list_packages(
    account_id: AccountId, session: Session, params: PackageListQuery, include_deleted: IncludeDeleted = False
) -> PackagePage:
    """Newest first; deleted packages only with ``include_deleted``."""
    page = await packages.list_packages(session, account_id, params, include_deleted=include_deleted)
    return PackagePage.of(page, [PackageOut.of(package) for package in page.items])


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_package(account_id: AccountId, body: PackageCreate, session: Session) -> PackageOut:
    package = await packages.create_package(
        session,
        account_id,
        name=body.name,
        description=body.description,
        is_active=body.is_active is not False,
        allow_monthly=body.allow_monthly is not False,
        allow_annual=body.allow_annual is True,
        default_billing_cycle=body.default_billing_cycle,
        items=[item.to_spec() for item in body.items],
        metadata=body.metadata,
    )
    return PackageOut.of(package)


@router.get("/{package_id}")
async def get_package(
    account_id: AccountId, package_id: str, session: Session, include_deleted: IncludeDeleted = False
) -> PackageOut:
    return PackageOut.of(await packages.get_package(session, account_id, package_id, include_deleted=include_deleted))


@router.patch("/{package_id}")
async def update_package(account_id: AccountId, package_id: str, body: PackageUpdate, session: Session) -> PackageOut:
    changes = body.model_dump(exclude_unset=True, exclude={"items"})
    if body.items is not None:
        changes["items"] = [item.to_spec() for item in body.items]
    return PackageOut.of(await packages.update_package(session, account_id, package_id, changes))


@router.delete("/{package_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_package(account_id: AccountId, package_id: str, session: Session) -> Response:
    """Archives the package: readable with ``include_deleted``, sold by no new checkout."""
    await packages.delete_package(session, account_id, package_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{package_id}/calculate")
async def calculate_package_total(
    account_id: AccountId, package_id: str, body: CalculateTotalIn, session: Session
) -> CalculateTotalOut:
    """What the package costs in a billing cycle, item by item."""
    return CalculateTotalOut.of(await packages.package_total(session, account_id, package_id, body.billing_cycle))
