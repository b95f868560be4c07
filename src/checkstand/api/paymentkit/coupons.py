"""``coupons/``: the terms of a discount (percent off, amount off or trial days), its dates, limits and products."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import AwareDatetime, Field, StringConstraints, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from checkstand.api.http.auth import AccountId, CurrentPrincipal
from checkstand.api.http.query import list_query
from checkstand.api.http.unit_of_work import Session
from checkstand.api.paymentkit.common import (
    CURRENCY_SCHEMA,
    Metadata,
    PageOut,
    ResponseModel,
    WireModel,
    decimal_schema,
)
from checkstand.core import clock, metadata, money
from checkstand.core.listing import ListParams
from checkstand.discounts import coupons
from checkstand.discounts.models import Coupon

router = APIRouter(prefix="/api/{account_id}/coupons", tags=["coupons"])

# Bounds that keep every value inside its column (BIGINT amounts, INTEGER counts) so none can become a 500; an
# amount's cap in its own currency (8 digits of the major unit) is the service's check.
MAX_AMOUNT_ATOM = money.MAX_AMOUNT_ATOM
MAX_COUNT = 2**31 - 1

DiscountType = Literal["amount_off", "percent_off", "trial_extension"]
Duration = Literal["once", "repeating", "forever"]
CouponStatus = Literal["active", "inactive", "deleted"]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$"), CURRENCY_SCHEMA]
AmountAtom = Annotated[int, Field(gt=0, le=MAX_AMOUNT_ATOM, description="In the currency's minor unit.")]
Percent = Annotated[
    Decimal,
    Field(gt=0, le=100, decimal_places=2),
    decimal_schema(
        {"exclusiveMinimum": 0, "maximum": 100, "multipleOf": 0.01},
        r"^(?:100(?:\.0{1,2})?|[1-9][0-9]?(?:\.[0-9]{1,2})?|0?\.(?:0[1-9]|[1-9][0-9]?))$",
        "Above 0 and at most 100, with up to two decimals (12.5), as a number or a string.",
    ),
]
Days = Annotated[int, Field(gt=0, le=36_500)]
Count = Annotated[int, Field(gt=0, le=MAX_COUNT)]
ProductId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
MetadataIn = Annotated[Metadata, Field(max_length=metadata.MAX_KEYS)]
MetadataChanges = Annotated[
    dict[Annotated[str, StringConstraints(min_length=1, max_length=40)], Annotated[str, Field(max_length=500)] | None],
    Field(max_length=metadata.MAX_KEYS),
]


def field_errors(title: str, problems: list[tuple[tuple[str | int, ...], str]]) -> ValidationError:
    """Field-level errors raised from a model validator: FastAPI reports each at its own ``loc`` under ``body``."""
    return ValidationError.from_exception_data(
        title,
        [
            InitErrorDetails(type=PydanticCustomError("value_error", message), loc=loc, input=None)
            for loc, message in problems
        ],
    )


class AmountOffDiscount(WireModel):
    discount_type: Literal["amount_off"]
    amount_atom_off: AmountAtom
    currency: Currency


class PercentOffDiscount(WireModel):
    discount_type: Literal["percent_off"]
    percent_off: Percent


class TrialExtensionDiscount(WireModel):
    discount_type: Literal["trial_extension"]
    trial_days_off: Days


DiscountIn = Annotated[
    AmountOffDiscount | PercentOffDiscount | TrialExtensionDiscount, Field(discriminator="discount_type")
]


class CouponCreate(WireModel):
    """The SDK's ``create_coupon``. It may describe the discount twice, flat and as the tagged ``discount`` object;
    both are accepted and must agree."""

    discount_type: DiscountType
    name: Name | None = None
    amount_atom_off: AmountAtom | None = None
    percent_off: Percent | None = None
    trial_days_off: Days | None = None
    currency: Currency | None = Field(default=None, description="Required with amount_off, and only with it.")
    duration: Duration = "once"
    duration_in_months: Annotated[int, Field(gt=0, le=1200)] | None = Field(
        default=None, description="Required when duration is repeating, and only then."
    )
    max_redemptions: Count | None = None
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None
    validity_period_days: Days | None = Field(default=None, description="From creation; instead of valid_until.")
    product_ids: Annotated[list[ProductId], Field(max_length=coupons.MAX_PRODUCTS)] = Field(
        default_factory=list, description="Only these products are discounted; empty means every product."
    )
    metadata: MetadataIn | None = None
    discount: DiscountIn | None = None

    @model_validator(mode="after")
    def _merge_discount(self) -> Self:
        if self.discount is None:
            return self
        if self.discount.discount_type != self.discount_type:
            raise field_errors(
                "CouponCreate", [(("discount", "discount_type"), f"differs from discount_type {self.discount_type!r}")]
            )
        conflicts: list[tuple[tuple[str | int, ...], str]] = []
        for name, value in self.discount.model_dump(exclude={"discount_type"}).items():
            flat = getattr(self, name)
            if flat is None:
                setattr(self, name, value)
            elif flat != value:
                conflicts.append(((name,), f"differs from discount.{name}"))
        if conflicts:
            raise field_errors("CouponCreate", conflicts)
        return self


class CouponUpdate(WireModel):
    """Only these can change once a coupon exists; a field left out keeps its value, null clears it."""

    name: Name | None = None
    max_redemptions: Count | None = Field(default=None, description="Never below the redemptions already made.")
    valid_until: AwareDatetime | None = None
    metadata: MetadataChanges | None = Field(
        default=None, description="Merged into the metadata; a key set to null or '' is removed; null clears all."
    )


class CouponOut(ResponseModel):
    """The SDK's ``CouponResponse``. ``percent_off`` is an integer there, so a fractional percentage is given
    exactly in ``percent_off_decimal`` and ``percent_off`` is null, as Stripe does with ``unit_amount_decimal``."""

    id: str
    status: str
    name: str | None
    discount_type: str
    amount_atom_off: int | None
    percent_off: int | None
    percent_off_decimal: str | None
    trial_days_off: int | None
    currency: str | None
    duration: str
    duration_in_months: int | None
    max_redemptions: int | None
    redemption_count: int
    valid_from: datetime | None
    valid_until: datetime | None
    validity_period_days: int | None
    products: list[str]
    metadata: dict[str, Any]
    valid: bool = Field(description="Whether the coupon can be applied right now.")
    deleted_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, coupon: Coupon) -> CouponOut:
        percent = None if coupon.percent_off_bp is None else Decimal(coupon.percent_off_bp) / 100
        return cls(
            id=coupon.id,
            status=coupon.status,
            name=coupon.name,
            discount_type=coupon.discount_type,
            amount_atom_off=coupon.amount_atom_off,
            percent_off=int(percent) if percent is not None and percent == int(percent) else None,
            percent_off_decimal=None if percent is None else f"{percent:f}",
            trial_days_off=coupon.trial_days_off,
            currency=coupon.currency,
            duration=coupon.duration,
            duration_in_months=coupon.duration_in_months,
            max_redemptions=coupon.max_redemptions,
            redemption_count=coupon.times_redeemed,
            valid_from=coupon.valid_from,
            valid_until=coupon.valid_until,
            validity_period_days=coupon.validity_period_days,
            products=list(coupon.product_ids),
            metadata=dict(coupon.coupon_metadata),
            valid=coupons.is_valid(coupon, clock.now()),
            deleted_at=coupon.deleted_at,
            created_at=coupon.created_at,
            updated_at=coupon.updated_at,
        )


CouponPage = PageOut[CouponOut]


class CouponNoteCreate(WireModel):
    content: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class CouponNoteOut(ResponseModel):
    id: str
    content: str
    created_by_type: str
    created_by_id: str | None = None
    created_by_name: str | None = None
    created_at: str


class CouponNotesOut(ResponseModel):
    coupon_id: str
    notes: list[CouponNoteOut]
    total_count: int


CouponListQuery = Annotated[ListParams, Depends(list_query(coupons.COUPON_LIST_SPEC))]


@router.get("/")
async def list_coupons(
    account_id: AccountId,
    session: Session,
    params: CouponListQuery,
    coupon_status: Annotated[CouponStatus | None, Query(alias="status", description="Only this status.")] = None,
    include_deleted: Annotated[bool, Query(description="Also deleted coupons.")] = False,
) -> CouponPage:
    page = await coupons.list_coupons(
        session, account_id, params, status=coupon_status, include_deleted=include_deleted
    )
    return CouponPage(items=[CouponOut.of(c) for c in page.items], total=page.total, has_more=page.has_more)


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_coupon(account_id: AccountId, body: CouponCreate, session: Session) -> CouponOut:
    coupon = await coupons.create_coupon(
        session,
        account_id,
        discount_type=body.discount_type,
        name=body.name,
        amount_atom_off=body.amount_atom_off,
        # At most two decimals (the schema checks it), so basis points are an exact integer.
        percent_off_bp=None if body.percent_off is None else int(body.percent_off * 100),
        trial_days_off=body.trial_days_off,
        currency=body.currency,
        duration=body.duration,
        duration_in_months=body.duration_in_months,
        max_redemptions=body.max_redemptions,
        valid_from=body.valid_from,
        valid_until=body.valid_until,
        validity_period_days=body.validity_period_days,
        product_ids=body.product_ids,
        metadata=body.metadata,
    )
    return CouponOut.of(coupon)


@router.get("/{coupon_id}")
async def get_coupon(account_id: AccountId, coupon_id: str, session: Session) -> CouponOut:
    return CouponOut.of(await coupons.get_coupon(session, account_id, coupon_id))


@router.put("/{coupon_id}")
async def update_coupon(account_id: AccountId, coupon_id: str, body: CouponUpdate, session: Session) -> CouponOut:
    changes = body.model_dump(exclude_unset=True)
    return CouponOut.of(await coupons.update_coupon(session, account_id, coupon_id, changes))


@router.delete("/{coupon_id}")
async def delete_coupon(account_id: AccountId, coupon_id: str, session: Session) -> CouponOut:
    """Soft delete: the coupon stays readable (status "deleted") but can't be used, updated or reactivated."""
    return CouponOut.of(await coupons.delete_coupon(session, account_id, coupon_id))


@router.post("/{coupon_id}/activate")
async def activate_coupon(account_id: AccountId, coupon_id: str, session: Session) -> CouponOut:
    return CouponOut.of(await coupons.set_coupon_active(session, account_id, coupon_id, True))


@router.post("/{coupon_id}/deactivate")
async def deactivate_coupon(account_id: AccountId, coupon_id: str, session: Session) -> CouponOut:
    return CouponOut.of(await coupons.set_coupon_active(session, account_id, coupon_id, False))


@router.get("/{coupon_id}/notes")
async def list_coupon_notes(account_id: AccountId, coupon_id: str, session: Session) -> CouponNotesOut:
    coupon = await coupons.get_coupon(session, account_id, coupon_id)
    notes = [CouponNoteOut.model_validate(note) for note in coupon.notes]
    return CouponNotesOut(coupon_id=coupon.id, notes=notes, total_count=len(notes))


@router.post("/{coupon_id}/notes", status_code=status.HTTP_201_CREATED)
async def create_coupon_note(
    account_id: AccountId, coupon_id: str, body: CouponNoteCreate, principal: CurrentPrincipal, session: Session
) -> CouponNoteOut:
    note = await coupons.add_coupon_note(
        session, account_id, coupon_id, content=body.content, author_type="api_key", author_id=principal.api_key_id
    )
    return CouponNoteOut.model_validate(note)


@router.delete("/{coupon_id}/notes/{note_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_coupon_note(account_id: AccountId, coupon_id: str, note_id: str, session: Session) -> Response:
    await coupons.delete_coupon_note(session, account_id, coupon_id, note_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
