"""Paid's ``plans``: the catalog's prices (the same ``price_`` ids as PaymentKit's), each a plan of its product with
one attribute (its pricing), the merchant's own external id, its place on the product's upgrade path, and whether it
is the product's default (what a checkout sells for a product named without plans)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Path, Query, status
from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema

from checkstand.api.http.unit_of_work import Session
from checkstand.api.paid.plan_pricing import AttributeOut, Currency, NoCredits, PricingIn, located, terms_of
from checkstand.api.paid.wire import AccountId, Omittable, PaidList, PaidModel, PaidPageParams, PaidRequest
from checkstand.catalog import plans
from checkstand.catalog.models import Price
from checkstand.catalog.plans import PriceTerms
from checkstand.core.errors import FieldPath

router = APIRouter(prefix="/plans", tags=["paid: plans"])

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=250)]
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Currencies = Annotated[list[Currency], Field(max_length=20)]
ExternalIdPath = Annotated[str, Path(min_length=1, max_length=255, description="Your own id for the plan.")]
# Where a plan's body carries the fields the catalog may refuse.
PLAN_FIELDS: Final[dict[str, FieldPath]] = {
    "product_id": ("productId",),
    "external_id": ("externalId",),
    "attribute_id": ("attributes", 0, "productAttributeId"),
    "currencies": ("supportedCurrencies",),
    "default_price_id": ("isDefault",),
}
# A billing frequency as Paid spells it in an upgrade path's group: its pricing's word, or the camel case of its
# order lines.
FREQUENCY_SPELLINGS: Final = (
    *("Monthly", "Quarterly", "Semi-Annually", "Annual", "Custom"),
    *("monthly", "quarterly", "semiAnnually", "annual", "custom"),
)


class PlanOut(PaidModel):
    """The SDK's ``Plan``: a price. ``status`` is archived while the price is; ``upgradePathOrder`` its place (1 for
    the lowest) among the product's plans billed as often; ``archivedAt`` isn't kept (always null)."""

    id: str
    product_id: str
    name: str | None
    external_id: str | None
    supported_currencies: list[str]
    is_default: bool
    status: Literal["active", "archived"]
    upgrade_path_order: float | None
    archived_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    attributes: list[AttributeOut]

    @classmethod
    def of(cls, price: Price) -> PlanOut:
        return cls(
            id=price.id,
            product_id=price.product_id,
            name=price.name,
            external_id=price.external_id,
            supported_currencies=[price.currency.upper()],
            is_default=price.product.default_price_id == price.id,
            status="active" if price.is_active else "archived",
            upgrade_path_order=price.upgrade_path_order,
            created_at=price.created_at,
            updated_at=price.updated_at,
            attributes=[AttributeOut.of(price)],
        )


class PlanAttributeIn(PaidRequest):
    """The SDK's ``PlanAttributeInput``: the product's one attribute (the product id), priced for this plan."""

    product_attribute_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    pricing: PricingIn
    credit_benefits: NoCredits = None


def _one(attributes: list[PlanAttributeIn]) -> list[PlanAttributeIn]:
    if len(attributes) != 1:
        raise ValueError("a plan has exactly one attribute, its pricing: it is one price")
    return attributes


Attributes = Annotated[
    list[PlanAttributeIn],
    AfterValidator(_one),
    Field(description="Exactly one: a plan is one price.", json_schema_extra={"minItems": 1, "maxItems": 1}),
]


def _attribute(attributes: list[PlanAttributeIn]) -> tuple[str, PriceTerms]:
    """The one attribute's id and terms, each refused field named where the body carries it."""
    [attribute] = attributes
    return attribute.product_attribute_id, terms_of(attribute.pricing, ("attributes", 0, "pricing"))


class PlanCreate(PaidRequest):
    product_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    name: Name | None = None
    external_id: ExternalId | None = Field(default=None, description="Your own id for it, unique in the account.")
    supported_currencies: Currencies | None = Field(default=None, description="The price point's currency alone.")
    is_default: bool = False
    attributes: Attributes


class PlanUpdate(PaidRequest):
    """A partial update. ``attributes`` and ``supportedCurrencies`` must be those the plan has (a price's terms
    never change: create another plan); ``status`` archives or restores it."""

    name: Name | None = None
    external_id: ExternalId | None = None
    supported_currencies: Currencies | None = None
    is_default: Omittable[bool] = None
    status: Omittable[Literal["active", "archived"]] = None
    attributes: Attributes | None = None

    def changes(self) -> dict[str, Any]:
        sent = self.model_dump(by_alias=False, exclude_unset=True, include={"name", "external_id", "is_default"})
        if self.status is not None:
            sent["is_active"] = self.status == "active"
        if self.supported_currencies is not None:
            sent["currencies"] = self.supported_currencies
        if self.attributes is not None:
            sent["attribute_id"], sent["terms"] = _attribute(self.attributes)
        return sent


def _frequency(spelt: str) -> str:
    """One of :data:`FREQUENCY_SPELLINGS`, as the catalog names it."""
    if spelt not in FREQUENCY_SPELLINGS:
        raise ValueError("must be Monthly, Quarterly, Semi-Annually, Annual or Custom")
    return spelt.lower().replace("-", "")


class UpgradeGroupIn(PaidRequest):
    frequency: Annotated[
        str | None,
        AfterValidator(lambda spelt: None if spelt is None else _frequency(spelt)),
        WithJsonSchema({"enum": [*FREQUENCY_SPELLINGS, None]}),
    ] = Field(default=None, description="Every plan of the group bills so; any when left out.")
    plan_ids: Annotated[list[Annotated[str, StringConstraints(max_length=64)]], Field(min_length=1, max_length=100)]

    def group(self) -> plans.UpgradeGroup:
        return plans.UpgradeGroup(plan_ids=self.plan_ids, frequency=self.frequency)


class UpgradePathIn(PaidRequest):
    product_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    groups: Annotated[list[UpgradeGroupIn], Field(max_length=10)]


class UpgradePathOut(PaidModel):
    data: list[PlanOut]


@router.get("/")
async def list_plans(
    account_id: AccountId,
    page: PaidPageParams,
    session: Session,
    product_id: Annotated[str | None, Query(alias="productId", max_length=64)] = None,
    external_product_id: Annotated[str | None, Query(alias="externalProductId", max_length=255)] = None,
    include_archived: Annotated[bool, Query(alias="includeArchived")] = False,
) -> PaidList[PlanOut]:
    """Newest first; of one product if named (by id or external id), archived plans only with includeArchived."""
    found = await plans.list_plans(
        session,
        account_id,
        page,
        product_id=product_id,
        external_product_id=external_product_id,
        include_archived=include_archived,
    )
    return PaidList.of(found, [PlanOut.of(price) for price in found.items])


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_plan(account_id: AccountId, body: PlanCreate, session: Session) -> PlanOut:
    """A new price of the product, priced by its one attribute; with isDefault, the product's default."""
    attribute_id, terms = _attribute(body.attributes)
    with located(("attributes", 0, "pricing"), PLAN_FIELDS):
        price = await plans.create_plan(
            session,
            account_id,
            product_id=body.product_id,
            terms=terms,
            name=body.name,
            external_id=body.external_id,
            is_default=body.is_default,
            attribute_id=attribute_id,
            currencies=body.supported_currencies,
        )
    return PlanOut.of(price)


@router.put("/upgrade-path")
async def update_plan_upgrade_path(account_id: AccountId, body: UpgradePathIn, session: Session) -> UpgradePathOut:
    """Rank the product's plans, one group per billing frequency, lowest first: each plan's upgradePathOrder is its
    place in its group, and a move between two plans of one group is an upgrade or a downgrade by it (unless
    PaymentKit upgrade paths the account declared say otherwise). Plans left out lose their place."""
    groups = [group.group() for group in body.groups]
    ranked = await plans.order_upgrade_path(session, account_id, body.product_id, groups)
    return UpgradePathOut(data=[PlanOut.of(price) for price in ranked])


@router.get("/external/{external_id:path}")
async def get_plan_by_external_id(account_id: AccountId, external_id: ExternalIdPath, session: Session) -> PlanOut:
    return PlanOut.of(await plans.get_plan(session, account_id, external_id=external_id))


@router.put("/external/{external_id:path}")
async def update_plan_by_external_id(
    account_id: AccountId, external_id: ExternalIdPath, body: PlanUpdate, session: Session
) -> PlanOut:
    with located(("attributes", 0, "pricing"), PLAN_FIELDS):
        price = await plans.update_plan(session, account_id, None, body.changes(), external_id=external_id)
    return PlanOut.of(price)


@router.get("/{plan_id}")
async def get_plan_by_id(account_id: AccountId, plan_id: str, session: Session) -> PlanOut:
    return PlanOut.of(await plans.get_plan(session, account_id, plan_id))


@router.put("/{plan_id}")
async def update_plan_by_id(account_id: AccountId, plan_id: str, body: PlanUpdate, session: Session) -> PlanOut:
    with located(("attributes", 0, "pricing"), PLAN_FIELDS):
        price = await plans.update_plan(session, account_id, plan_id, body.changes())
    return PlanOut.of(price)
