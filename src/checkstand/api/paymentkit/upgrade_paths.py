"""``upgrade-paths/``: the plan changes an account allows, and whether a given change is one of them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import Field

from checkstand.api.http.auth import AccountId
from checkstand.api.http.query import list_query
from checkstand.api.http.unit_of_work import Session
from checkstand.api.paymentkit.common import Omittable, PageOut, ResponseModel, WireModel
from checkstand.api.paymentkit.products import ObjectId
from checkstand.catalog import upgrade_paths
from checkstand.catalog.models import UpgradePath
from checkstand.core.listing import ListParams

router = APIRouter(prefix="/api/{account_id}/upgrade-paths", tags=["upgrade-paths"])

IncludeDeleted = Annotated[bool, Query(description="Include soft-deleted paths.")]
TransitionFilter = Annotated[
    Literal["upgrade", "downgrade", "crossgrade", "lateral"] | None, Query(description="Only this transition type.")
]
# The SDK says "lateral" where Checkstand says "crossgrade": both are taken, "crossgrade" is answered.
TransitionType = Literal["upgrade", "downgrade", "crossgrade", "lateral"]
Description = Annotated[str, Field(max_length=500)]


class UpgradePathOut(ResponseModel):
    """The SDK's ``UpgradePath``."""

    id: str
    account_id: str
    source_product_id: str | None
    target_product_id: str | None
    source_price_id: str | None
    target_price_id: str | None
    transition_type: str
    description: str | None
    is_active: bool
    deleted_at: datetime | None
    created_at: datetime
    updated_at: datetime


class AllowedTransitionOut(ResponseModel):
    path_id: str
    target_product_id: str | None
    target_price_id: str | None
    transition_type: str
    description: str | None

    @classmethod
    def of(cls, path: UpgradePath) -> AllowedTransitionOut:
        return cls(
            path_id=path.id,
            target_product_id=path.target_product_id,
            target_price_id=path.target_price_id,
            transition_type=path.transition_type,
            description=path.description,
        )


class AllowedTransitionsOut(ResponseModel):
    """The SDK's ``ListAllowedTransitionsResponse``."""

    source_product_id: str | None
    source_price_id: str | None
    transitions: list[AllowedTransitionOut]


class ValidateTransitionOut(ResponseModel):
    """The SDK's ``ValidateTransitionResponse``."""

    allowed: bool
    transition_type: str | None
    reason: str | None
    path_id: str | None


class Ends(WireModel):
    source_product_id: ObjectId | None = None
    target_product_id: ObjectId | None = None
    source_price_id: ObjectId | None = None
    target_price_id: ObjectId | None = None


class UpgradePathCreate(Ends):
    transition_type: TransitionType | None = Field(
        default=None, description="Inferred from family ranks and amounts when left out."
    )
    description: Description | None = None
    is_active: Omittable[bool] = True


class UpgradePathUpdate(WireModel):
    transition_type: Omittable[TransitionType] = None
    description: Description | None = None
    is_active: Omittable[bool] = None


UpgradePathPage = PageOut[UpgradePathOut]
UpgradePathListQuery = Annotated[ListParams, Depends(list_query(upgrade_paths.UPGRADE_PATH_LIST))]


@router.get("/")
async def list_upgrade_paths(
    account_id: AccountId,
    session: Session,
    params: UpgradePathListQuery,
    include_deleted: IncludeDeleted = False,
    transition_type: TransitionFilter = None,
) -> UpgradePathPage:
    page = await upgrade_paths.list_upgrade_paths(
        session, account_id, params, include_deleted=include_deleted, transition_type=transition_type
    )
    return UpgradePathPage.of(page, [UpgradePathOut.model_validate(path) for path in page.items])


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_upgrade_path(account_id: AccountId, body: UpgradePathCreate, session: Session) -> UpgradePathOut:
    path = await upgrade_paths.create_upgrade_path(session, account_id, **body.model_dump())
    return UpgradePathOut.model_validate(path)


@router.post("/validate")
async def validate_transition(account_id: AccountId, body: Ends, session: Session) -> ValidateTransitionOut:
    verdict = await upgrade_paths.validate_transition(session, account_id, **body.model_dump())
    return ValidateTransitionOut.model_validate(verdict)


@router.get("/from-product/{product_id}")
async def list_transitions_from_product(
    account_id: AccountId, product_id: str, session: Session, transition_type: TransitionFilter = None
) -> AllowedTransitionsOut:
    paths = await upgrade_paths.list_transitions_from_product(
        session, account_id, product_id, transition_type=transition_type
    )
    return AllowedTransitionsOut(
        source_product_id=product_id,
        source_price_id=None,
        transitions=[AllowedTransitionOut.of(path) for path in paths],
    )


@router.get("/from-price/{price_id}")
async def list_transitions_from_price(
    account_id: AccountId, price_id: str, session: Session, transition_type: TransitionFilter = None
) -> AllowedTransitionsOut:
    price, paths = await upgrade_paths.list_transitions_from_price(
        session, account_id, price_id, transition_type=transition_type
    )
    return AllowedTransitionsOut(
        source_product_id=price.product_id,
        source_price_id=price.id,
        transitions=[AllowedTransitionOut.of(path) for path in paths],
    )


@router.get("/{path_id}")
async def get_upgrade_path(
    account_id: AccountId, path_id: str, session: Session, include_deleted: IncludeDeleted = False
) -> UpgradePathOut:
    path = await upgrade_paths.get_upgrade_path(session, account_id, path_id, include_deleted=include_deleted)
    return UpgradePathOut.model_validate(path)


@router.patch("/{path_id}")
async def update_upgrade_path(
    account_id: AccountId, path_id: str, body: UpgradePathUpdate, session: Session
) -> UpgradePathOut:
    path = await upgrade_paths.update_upgrade_path(session, account_id, path_id, body.model_dump(exclude_unset=True))
    return UpgradePathOut.model_validate(path)


@router.delete("/{path_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_upgrade_path(account_id: AccountId, path_id: str, session: Session) -> Response:
    """Soft delete: the path stops deciding changes; readable with ``include_deleted``."""
    await upgrade_paths.delete_upgrade_path(session, account_id, path_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
