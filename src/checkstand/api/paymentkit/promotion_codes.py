"""``promotion-codes/``: customer-facing codes for coupons, and checking or using one for an order."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from pydantic import AwareDatetime, Field, StringConstraints, field_validator

from checkstand.api.http.auth import AccountId
from checkstand.api.http.query import list_query
from checkstand.api.http.unit_of_work import Session
from checkstand.api.http.validation import invalid_request
from checkstand.api.paymentkit.common import (
    MAJOR_AMOUNT_STEP,
    MAJOR_AMOUNT_TEXT,
    PageOut,
    ResponseModel,
    WireModel,
    decimal_schema,
)
from checkstand.api.paymentkit.coupons import Count, Currency, MetadataChanges, MetadataIn
from checkstand.core import money
from checkstand.core.errors import BusinessRuleViolation
from checkstand.core.listing import ListParams
from checkstand.discounts import promotion_codes, redemptions
from checkstand.discounts.models import PromotionCode, Redemption

router = APIRouter(prefix="/api/{account_id}/promotion-codes", tags=["promotion-codes"])

CodeText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=promotion_codes.CODE_PATTERN),
    Field(description="Letters, digits, '-' and '_', up to 64; unique in the account whatever the case."),
]
MajorAmount = Annotated[
    Decimal,
    Field(gt=0, le=10**12),
    decimal_schema(
        {"exclusiveMinimum": 0, "maximum": 10**12, "multipleOf": MAJOR_AMOUNT_STEP},
        # Not zero: a digit other than 0 somewhere.
        rf"^(?=[0-9.]*[1-9]){MAJOR_AMOUNT_TEXT[1:]}",
        "In the currency's major unit (10.50), as a number or a string; at most as many decimals as the currency has.",
    ),
]


class RestrictionsIn(WireModel):
    """The SDK's ``PromotionCodeRestrictions``."""

    first_time_transaction: bool | None = None
    minimum_amount: MajorAmount | None = None
    minimum_amount_currency: Currency | None = None


class PromotionCodeCreate(WireModel):
    coupon_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    code: CodeText
    active: bool = True
    max_redemptions: Count | None = None
    expires_at: AwareDatetime | None = None
    restrictions: RestrictionsIn | None = None
    metadata: MetadataIn | None = None


class PromotionCodeUpdate(WireModel):
    """A field left out keeps its value; null clears ``max_redemptions``, ``expires_at`` or ``metadata``."""

    active: bool | None = None
    max_redemptions: Count | None = Field(default=None, description="Never below the redemptions already made.")
    expires_at: AwareDatetime | None = None
    metadata: MetadataChanges | None = Field(
        default=None, description="Merged into the metadata; a key set to null or '' is removed; null clears all."
    )

    @field_validator("active")
    @classmethod
    def _active_not_null(cls, value: bool | None) -> bool:
        # Omitted keeps the state; an explicit null says neither.
        if value is None:
            raise ValueError("must be true or false")
        return value


class CodeUse(WireModel):
    """The SDK's ``PromotionCodeRedemptionRequest``: the order is known by its amount only."""

    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    customer_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    order_amount: (
        Annotated[
            Decimal,
            Field(ge=0, le=10**12),
            decimal_schema(
                {"minimum": 0, "maximum": 10**12, "multipleOf": MAJOR_AMOUNT_STEP},
                MAJOR_AMOUNT_TEXT,
                "In the major unit of order_currency, as a number or a string; at most as many decimals as the "
                "currency has.",
            ),
        ]
        | None
    ) = None
    order_currency: Currency | None = None

    def order_amount_atom(self) -> int | None:
        """The order amount in minor units; a field error when it can't be one."""
        if self.order_amount is None:
            return None
        if self.order_currency is None:
            raise invalid_request(("body", "order_currency"), "required with order_amount", "missing")
        if not money.is_currency(self.order_currency):
            raise invalid_request(("body", "order_currency"), f"{self.order_currency!r} is not an ISO 4217 currency")
        atom = promotion_codes.to_minor_exact(self.order_amount, self.order_currency)
        if atom is None:
            places = money.exponent(self.order_currency)
            raise invalid_request(("body", "order_amount"), f"at most {places} decimals in {self.order_currency}")
        return atom


class PromotionCodeOut(ResponseModel):
    """The SDK's ``PromotionCodeResponse``. In ``restrictions``, ``minimum_amount`` is an exact decimal string in
    the major unit, and ``minimum_amount_atom`` the same in minor units."""

    id: str
    coupon_id: str
    code: str
    active: bool
    max_redemptions: int | None
    times_redeemed: int
    expires_at: datetime | None
    restrictions: dict[str, Any]
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, code: PromotionCode) -> PromotionCodeOut:
        minimum = None
        if code.minimum_amount_atom is not None and code.minimum_amount_currency is not None:
            minimum = f"{money.to_major(code.minimum_amount_atom, code.minimum_amount_currency):f}"
        return cls(
            id=code.id,
            coupon_id=code.coupon_id,
            code=code.code,
            active=code.active,
            max_redemptions=code.max_redemptions,
            times_redeemed=code.times_redeemed,
            expires_at=code.expires_at,
            restrictions={
                "first_time_transaction": code.first_time_transaction,
                "minimum_amount": minimum,
                "minimum_amount_currency": code.minimum_amount_currency,
                "minimum_amount_atom": code.minimum_amount_atom,
            },
            metadata=dict(code.code_metadata),
            created_at=code.created_at,
            updated_at=code.updated_at,
        )


PromotionCodePage = PageOut[PromotionCodeOut]


class CodeCheckOut(ResponseModel):
    """The SDK's ``ValidatePromotionCodeResponse``, plus the machine code of a refusal and, when the order's amount
    and currency were given and the coupon isn't limited to some products, what it would take off."""

    valid: bool
    error: str | None = None
    error_code: str | None = None
    promotion_code: PromotionCodeOut | None = None
    discount_atom: int | None = None


class RedemptionOut(ResponseModel):
    id: str
    coupon_id: str
    promotion_code_id: str | None
    customer_id: str | None
    amount_atom: int | None
    currency: str | None
    created_at: datetime


class RedeemedOut(PromotionCodeOut):
    """The code with its new count (the SDK's ``PromotionCodeResponse``), and the redemption just recorded."""

    redemption: RedemptionOut

    @classmethod
    def of_redemption(cls, code: PromotionCode, redemption: Redemption) -> RedeemedOut:
        return cls(**PromotionCodeOut.of(code).model_dump(), redemption=RedemptionOut.model_validate(redemption))


PromotionCodeListQuery = Annotated[ListParams, Depends(list_query(promotion_codes.PROMOTION_CODE_LIST_SPEC))]


@router.get("/")
async def list_promotion_codes(
    account_id: AccountId,
    session: Session,
    params: PromotionCodeListQuery,
    coupon_id: Annotated[str | None, Query(max_length=64, description="Only the codes of this coupon.")] = None,
    active_only: Annotated[bool, Query(description="Only active codes.")] = False,
) -> PromotionCodePage:
    page = await promotion_codes.list_promotion_codes(
        session, account_id, params, coupon_id=coupon_id, active_only=active_only
    )
    return PromotionCodePage(
        items=[PromotionCodeOut.of(code) for code in page.items], total=page.total, has_more=page.has_more
    )


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_promotion_code(account_id: AccountId, body: PromotionCodeCreate, session: Session) -> PromotionCodeOut:
    restrictions = body.restrictions or RestrictionsIn()
    code = await promotion_codes.create_promotion_code(
        session,
        account_id,
        coupon_id=body.coupon_id,
        code=body.code,
        active=body.active,
        max_redemptions=body.max_redemptions,
        expires_at=body.expires_at,
        first_time_transaction=bool(restrictions.first_time_transaction),
        minimum_amount=restrictions.minimum_amount,
        minimum_amount_currency=restrictions.minimum_amount_currency,
        metadata=body.metadata,
    )
    return PromotionCodeOut.of(code)


@router.post("/validate")
async def validate_promotion_code(account_id: AccountId, body: CodeUse, session: Session) -> CodeCheckOut:
    """Whether the code can be used for this order now. A refusal is an answer here (200, ``valid`` false), not an
    error; nothing is counted."""
    amount_atom = body.order_amount_atom()
    try:
        checked = await redemptions.check_promotion_code(
            session,
            account_id,
            body.code,
            customer_id=body.customer_id,
            order_amount_atom=amount_atom,
            currency=body.order_currency,
        )
    except BusinessRuleViolation as refusal:
        found = await promotion_codes.find_promotion_code(session, account_id, body.code)
        return CodeCheckOut(
            valid=False,
            error=refusal.detail,
            error_code=refusal.code,
            promotion_code=None if found is None else PromotionCodeOut.of(found),
        )
    return CodeCheckOut(
        valid=True, promotion_code=PromotionCodeOut.of(checked.code), discount_atom=checked.discount_atom
    )


@router.post("/redeem")
async def redeem_promotion_code(account_id: AccountId, body: CodeUse, session: Session) -> RedeemedOut:
    """Count one use of the code and its coupon, or refuse (422) with the reason's code; exact under concurrency."""
    code, redemption = await redemptions.redeem_promotion_code(
        session,
        account_id,
        body.code,
        customer_id=body.customer_id,
        order_amount_atom=body.order_amount_atom(),
        currency=body.order_currency,
    )
    return RedeemedOut.of_redemption(code, redemption)


@router.get("/{promo_code_id}")
async def get_promotion_code(account_id: AccountId, promo_code_id: str, session: Session) -> PromotionCodeOut:
    return PromotionCodeOut.of(await promotion_codes.get_promotion_code(session, account_id, promo_code_id))


@router.put("/{promo_code_id}")
async def update_promotion_code(
    account_id: AccountId, promo_code_id: str, body: PromotionCodeUpdate, session: Session
) -> PromotionCodeOut:
    changes = body.model_dump(exclude_unset=True)
    return PromotionCodeOut.of(await promotion_codes.update_promotion_code(session, account_id, promo_code_id, changes))


@router.delete("/{promo_code_id}")
async def delete_promotion_code(account_id: AccountId, promo_code_id: str, session: Session) -> PromotionCodeOut:
    """The code stops working and is no longer listed; its text may be given to a new code."""
    return PromotionCodeOut.of(await promotion_codes.delete_promotion_code(session, account_id, promo_code_id))
