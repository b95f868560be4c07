"""``prices/``: one-time and recurring prices. Their shared wire shape, :class:`PriceOut`, lives with the products
router, which lists a product's prices."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, status
from pydantic import BeforeValidator, Field, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from checkstand.api.http.auth import AccountId
from checkstand.api.http.query import list_query
from checkstand.api.http.unit_of_work import Session
from checkstand.api.paymentkit.common import (
    CURRENCY_SCHEMA,
    Omittable,
    PageOut,
    ResponseModel,
    WholeNumber,
    WireModel,
)
from checkstand.api.paymentkit.products import (
    CustomFieldChanges,
    Expand,
    MetadataChanges,
    MetadataIn,
    ObjectId,
    PriceOut,
    ProductOut,
)
from checkstand.catalog import service as catalog
from checkstand.catalog.models import LICENSED, Price
from checkstand.core.listing import ListParams
from checkstand.customers import service as customers
from checkstand.subscriptions import price_migrations

router = APIRouter(prefix="/api/{account_id}/prices", tags=["prices"])

PriceName = Annotated[str, Field(max_length=250)]


# The meter a metered price bills and meter events report on: a name such as ``api_calls`` or ``tokens.input``.
MeteredId = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]


def _fixed(value: object) -> object:
    raise ValueError("a price's amount, currency and interval never change; create a new price and archive this one")


# Left out of the reference, which refuses any field it doesn't list: the server's 422 says why.
Fixed = SkipJsonSchema[Annotated[object, BeforeValidator(_fixed)]]


class PriceWithProductOut(PriceOut):
    """The SDK's ``PriceWithProduct`` and ``ListPriceItem``."""

    product: ProductOut

    @classmethod
    def of_price(cls, price: Price, *, custom_fields: bool) -> PriceWithProductOut:
        product = ProductOut.of(price.product, custom_fields=custom_fields)
        return cls(**cls.fields_of(price, custom_fields=custom_fields), product=product)


ListPricePage = PageOut[PriceWithProductOut]


class TierIn(WireModel):
    """The SDK's ``TierAmountAtom``: a tier's upper bound (null on the last) and its amounts."""

    units_upto: WholeNumber | None = None
    unit_amount_atom: WholeNumber
    flat_amount_atom: WholeNumber | None = None


class TierAmountInfoIn(WireModel):
    """The SDK's ``TierAmountInfo``: graduated (each tier prices its own units) or volume (the tier reached prices
    every unit)."""

    mode: Literal["graduated", "volume"]
    amount_atoms: list[TierIn] = Field(min_length=1, max_length=100)


class PriceCreate(WireModel):
    product_id: ObjectId
    currency: Annotated[str, CURRENCY_SCHEMA]
    unit_amount_atom: WholeNumber | None = Field(
        default=None,
        ge=0,
        le=catalog.MAX_UNIT_AMOUNT,
        description="In the currency's minor unit (cents for usd, yen for jpy); at most 8 digits of the major unit "
        "(9999999999 for usd: 99,999,999.99). Required per unit; a tiered price's amounts are its tiers'.",
    )
    name: PriceName | None = None
    is_active: bool | None = Field(default=None, description="Sellable; true when omitted.")
    unit_label: Annotated[str, Field(max_length=12)] | None = None
    pricing_type: Literal["one_time", "recurring"] | None = Field(
        default=None, description="Defaults to recurring when recurring_interval is given, else one_time."
    )
    recurring_interval: Literal["day", "week", "month", "year"] | None = None
    recurring_interval_count: WholeNumber | None = Field(
        default=None,
        description="Intervals per period; default 1. At most 3 years: 1095 days, 156 weeks, 36 months, 3 years.",
        # What the interval allows (at most 3 years of it) is the service's check.
        json_schema_extra={"minimum": 1, "maximum": max(catalog.MAX_INTERVAL_COUNT.values())},
    )
    trial_days: WholeNumber | None = Field(
        default=None,
        description="Recurring prices only.",
        json_schema_extra={"minimum": 0, "maximum": catalog.MAX_TRIAL_DAYS},
    )
    auto_renew: bool | None = Field(
        default=None,
        description="Recurring prices only; true when omitted: the contract renews for another term at its end. With "
        "false the subscription ends at the end of its term (no renewal invoice; subscription.canceled).",
    )
    contract_term_multiple: WholeNumber | None = Field(
        default=None,
        description="Recurring prices only: a contract term of this many billing intervals, still billed every "
        "interval (12 on a monthly price: a year's commitment). While a term runs beyond the current period, cancel "
        "is refused (409 contract_term_commitment; cancel_at_period_end ends the subscription at the term's end) and "
        "a plan change whose term would end sooner is a 422 contract_term_shortened.",
        json_schema_extra={"minimum": 1, "maximum": catalog.MAX_CONTRACT_TERM_MULTIPLE},
    )
    usage_type: Literal["licensed", "metered"] | None = Field(
        default=None,
        description="licensed (the default): a quantity bought, billed in advance. metered: billed in arrears at "
        "each period's end for the usage reported on metered_id (POST meter-events/), priced by the price's scheme "
        "(per unit, tiered or package) on the period's aggregated quantity; recurring prices only. Usage during a "
        "trial is not billed.",
    )
    metered_id: MeteredId | None = Field(
        default=None, description="A metered price's meter: the metered_id its meter events are reported with."
    )
    usage_aggregation: Literal["sum", "max", "last"] | None = Field(
        default=None,
        description="Checkstand extension (the SDK has no field for it: send it with request_options="
        '{"additional_body_parameters": {"usage_aggregation": "max"}}). How a metered price turns a period\'s meter '
        "events into its quantity: sum of their values (the default), max, or last (the latest by timestamp, ties "
        "by arrival).",
    )
    billing_scheme: Literal["per_unit", "tiered"] | None = Field(
        default=None, description="per_unit (the default) or tiered, priced by tier_amount_info."
    )
    tier_amount_info: TierAmountInfoIn | None = None
    prerequisite_price_ids: list[ObjectId] | None = Field(
        default=None, description="An add-on: checkout sells it only beside one of these prices."
    )
    exclusive_customer_ids: list[ObjectId] | None = Field(
        default=None, description="Only these customers may buy it; anyone may when empty."
    )
    quantity_divisor: WholeNumber | None = Field(
        default=None,
        description="Package pricing: the amount is per this many units, a started package billed whole.",
        json_schema_extra={"minimum": 1, "maximum": catalog.MAX_QUANTITY_DIVISOR},
    )
    metadata: MetadataIn | None = None
    custom_fields: CustomFieldChanges | None = None


class PriceUpdate(WireModel):
    """What a price may change. Its economics are fixed: the reference leaves them out, and sending one is a 422
    that says to make a new price."""

    is_active: Omittable[bool] = Field(default=None, description="false archives the price: no new checkouts.")
    name: PriceName | None = None
    metadata: MetadataChanges | None = None
    custom_fields: CustomFieldChanges | None = None
    product_id: Fixed = None
    currency: Fixed = None
    unit_amount_atom: Fixed = None
    pricing_type: Fixed = None
    recurring_interval: Fixed = None
    recurring_interval_count: Fixed = None
    trial_days: Fixed = None
    contract_term_multiple: Fixed = None
    auto_renew: Fixed = None
    billing_scheme: Fixed = None
    usage_type: Fixed = None
    metered_id: Fixed = None
    usage_aggregation: Fixed = None
    tier_amount_info: Fixed = None


class PriceMigrationIn(WireModel):
    """The SDK's ``PriceMigrationItem``."""

    product_id: ObjectId
    target_price_id: ObjectId = Field(description="The product's new default price: an active price of it.")
    migrate_subscriptions: bool | None = Field(
        default=None,
        description="true: the subscriptions holding the product's old default price move to the new one at their "
        "next renewal (which bills it); subscriptions sold the old price later keep it.",
    )


class BulkMigrationIn(WireModel):
    migrations: list[PriceMigrationIn] = Field(max_length=100)


class MigrationSuccessOut(ResponseModel):
    """The SDK's ``MigrationSuccess``: ``subscriptions_migrated`` move at their next renewal."""

    product_id: str
    old_default_price_id: str | None
    new_default_price_id: str
    subscriptions_migrated: int


class MigrationErrorOut(ResponseModel):
    """The SDK's ``MigrationError``."""

    product_id: str
    target_price_id: str
    error: str


class BulkMigrationOut(ResponseModel):
    """The SDK's ``BulkMigrationResponse``."""

    total_requested: int
    successful: int
    failed: int
    results: list[MigrationSuccessOut]
    errors: list[MigrationErrorOut]


PriceListQuery = Annotated[ListParams, Depends(list_query(catalog.PRICE_LIST))]


@router.get("/")
async def list_prices(account_id: AccountId, session: Session, params: PriceListQuery, expand: Expand) -> ListPricePage:
    """Newest first, each with its product; ``search`` matches the price's or the product's name."""
    page = await catalog.list_prices(session, account_id, params)
    with_fields = "custom_fields" in expand
    items = [PriceWithProductOut.of_price(price, custom_fields=with_fields) for price in page.items]
    return ListPricePage(items=items, total=page.total, has_more=page.has_more)


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_price(account_id: AccountId, body: PriceCreate, session: Session) -> PriceOut:
    price = await catalog.create_price(
        session,
        account_id,
        product_id=body.product_id,
        currency=body.currency,
        unit_amount_atom=body.unit_amount_atom,
        pricing_type=body.pricing_type,
        recurring_interval=body.recurring_interval,
        recurring_interval_count=body.recurring_interval_count,
        trial_days=body.trial_days,
        name=body.name,
        is_active=body.is_active is not False,
        unit_label=body.unit_label,
        metadata=body.metadata,
        custom_fields=body.custom_fields,
        prerequisite_price_ids=body.prerequisite_price_ids or (),
        billing_scheme=body.billing_scheme or "per_unit",
        tiers_mode=body.tier_amount_info.mode if body.tier_amount_info else None,
        tiers=[tier.model_dump() for tier in body.tier_amount_info.amount_atoms] if body.tier_amount_info else None,
        quantity_divisor=body.quantity_divisor,
        usage_type=body.usage_type or LICENSED,
        metered_id=body.metered_id,
        usage_aggregation=body.usage_aggregation,
        contract_term_multiple=body.contract_term_multiple,
        auto_renew=body.auto_renew is not False,
        exclusive_customer_ids=await customers.existing_ids(
            session, account_id, body.exclusive_customer_ids or (), ("exclusive_customer_ids",)
        ),
    )
    return PriceOut.of(price)


@router.post("/bulk-migrate")
async def bulk_migrate_prices(account_id: AccountId, body: BulkMigrationIn, session: Session) -> BulkMigrationOut:
    """Move each product's default price to ``target_price_id``, in order. The target must be an active price of
    the product, in the old default's currency, billing interval and contract term, and subscriptions on a metered
    price are not migrated; a migration that breaks a rule is reported in ``errors`` and changes nothing, while the
    others apply."""
    done = await price_migrations.bulk_migrate_prices(
        session,
        account_id,
        [
            price_migrations.PriceMigration(item.product_id, item.target_price_id, item.migrate_subscriptions is True)
            for item in body.migrations
        ],
    )
    return BulkMigrationOut(
        total_requested=len(body.migrations),
        successful=len(done.results),
        failed=len(done.errors),
        results=[MigrationSuccessOut.model_validate(result) for result in done.results],
        errors=[MigrationErrorOut.model_validate(error) for error in done.errors],
    )


@router.get("/{price_id}")
async def get_price(account_id: AccountId, price_id: str, session: Session, expand: Expand) -> PriceWithProductOut:
    price = await catalog.get_price(session, account_id, price_id)
    return PriceWithProductOut.of_price(price, custom_fields="custom_fields" in expand)


@router.get("/{price_id}/add-ons")
async def list_add_on_prices(
    account_id: AccountId, price_id: str, session: Session, params: PriceListQuery, expand: Expand
) -> ListPricePage:
    """The add-ons sold beside this price, newest first, each with its product."""
    page = await catalog.list_add_on_prices(session, account_id, price_id, params)
    with_fields = "custom_fields" in expand
    items = [PriceWithProductOut.of_price(price, custom_fields=with_fields) for price in page.items]
    return ListPricePage(items=items, total=page.total, has_more=page.has_more)


@router.patch("/{price_id}")
async def update_price(account_id: AccountId, price_id: str, body: PriceUpdate, session: Session) -> PriceOut:
    price = await catalog.update_price(session, account_id, price_id, body.model_dump(exclude_unset=True))
    return PriceOut.of(price)
