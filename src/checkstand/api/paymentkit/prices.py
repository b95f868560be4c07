"""``prices/``: one-time and recurring prices. Their shared wire shape, :class:`PriceOut`, lives with the products
router, which lists a product's prices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, status
from pydantic import BeforeValidator, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue, SkipJsonSchema
from pydantic_core import CoreSchema, core_schema

from checkstand.api.http.auth import AccountId
from checkstand.api.http.query import list_query
from checkstand.api.http.unit_of_work import Session
from checkstand.api.paymentkit.common import CURRENCY_SCHEMA, Omittable, PageOut, WholeNumber, WireModel
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
from checkstand.catalog.models import Price
from checkstand.core.listing import ListParams
from checkstand.customers import service as customers

router = APIRouter(prefix="/api/{account_id}/prices", tags=["prices"])

PriceName = Annotated[str, Field(max_length=250)]


@dataclass(frozen=True)
class _Supported:
    """Accept a parameter the SDK sends only at the values that mean what Checkstand does; anything else is a 422
    saying so, rather than a price stored with terms nobody will honour. The reference lists those values."""

    allowed: tuple[object, ...]
    reason: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {"enum": list(self.allowed), "description": f"Anything else is refused: {self.reason}."}

    def _check(self, value: object) -> object:
        if value not in self.allowed:
            raise ValueError(self.reason)
        return value


def _supported(*allowed: object, reason: str) -> _Supported:
    return _Supported(allowed, reason)


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
    auto_renew: Annotated[
        bool | None, _supported(None, True, reason="prices that stop renewing are not supported; leave it true")
    ] = None
    contract_term_multiple: Annotated[
        int | None, _supported(None, 1, reason="contract terms longer than one period are not supported")
    ] = None
    usage_type: Annotated[
        str | None, _supported(None, "licensed", reason="metered usage is not supported; only licensed")
    ] = None
    metered_id: Annotated[str | None, _supported(None, reason="metered usage is not supported")] = None
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
    billing_scheme: Fixed = None
    usage_type: Fixed = None
    tier_amount_info: Fixed = None


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
        exclusive_customer_ids=await customers.existing_ids(
            session, account_id, body.exclusive_customer_ids or (), ("exclusive_customer_ids",)
        ),
    )
    return PriceOut.of(price)


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
