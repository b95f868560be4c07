"""``checkout-sessions/``: the SDK's ``CheckoutSession``, plus the hosted page's ``url`` and the server's amounts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, status
from pydantic import AfterValidator, Field, WithJsonSchema, model_validator

from checkstand.api.http.auth import AccountId
from checkstand.api.http.query import expand_query, list_query
from checkstand.api.http.unit_of_work import Session
from checkstand.api.paymentkit.common import WEB_URL_SCHEMA, Metadata, PageOut, ResponseModel, WireModel
from checkstand.checkout import lifecycle
from checkstand.checkout import service as checkout_service
from checkstand.checkout.models import PRIMARY_TIER, SUCCESS, CheckoutSession
from checkstand.checkout.packages import PackageLineSpec
from checkstand.core import i18n
from checkstand.core.listing import ListParams
from checkstand.payments import plan_change_sessions
from checkstand.subscriptions import service as subscriptions

router = APIRouter(prefix="/api/{account_id}/checkout-sessions", tags=["checkout-sessions"])

ThreeDsMode = Literal["prefer_non_3ds", "first_3ds_wins"]
# What a list's ``filter`` takes as ``state``: computed by the service (an open session past its expiry is expired),
# so no column says it; any other value is refused.
CheckoutState = Literal["open", "success", "expired"]
HOSTED_PAGE_PATH = "/c/"


def _locale(value: str) -> str:
    parsed = i18n.parse_locale(value)
    if parsed is None:
        raise ValueError(f"must be 'auto' or one of {', '.join(i18n.LANGUAGES)}, optionally with a region (de-CH)")
    return parsed


# Checkstand's extra (the SDK's create has no such parameter: send it as an extra body field).
PageLocale = Annotated[
    str,
    Field(max_length=i18n.MAX_LOCALE_LENGTH),
    AfterValidator(_locale),
    WithJsonSchema(
        {
            # The enum lists the languages; a region form (de-CH) of one of them is accepted beyond it.
            "type": "string",
            "enum": [i18n.AUTO, *i18n.LANGUAGES],
            "description": "Checkstand's extra: the language of the hosted page and the receipts. 'auto' (the "
            "default) follows the browser's Accept-Language; or one of " + ", ".join(i18n.LANGUAGES) + ", with or "
            "without a region (de-CH: German words, Swiss number format).",
        }
    ),
]


# --- Requests -------------------------------------------------------------------------------------------------------


class LineItemIn(WireModel):
    price_id: Annotated[str, Field(min_length=1, max_length=64)]
    quantity: Annotated[int, Field(ge=1, le=checkout_service.MAX_QUANTITY)] = 1
    description: Annotated[str, Field(max_length=500)] | None = None


class SessionLineItemIn(WireModel):
    """The SDK's ``CheckoutSessionLineItemCreate``, or Checkstand's extra: a package in place of a price."""

    price_id: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="The price sold; required unless package_id is given."
    )
    package_id: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None,
        description="Checkstand's extra, in place of price_id: the session sells every item of this package at its "
        "price for billing_cycle, each item's quantity times this line's quantity, as lines of their own that name "
        'the package in their package_id. The SDK sends it as an additional body parameter: {"line_items": '
        '[{"package_id": "pkg_...", "billing_cycle": "annual"}]}.',
    )
    billing_cycle: Literal["monthly", "annual"] | None = Field(
        default=None, description="With package_id: the package's prices for this cycle; its default one if omitted."
    )
    quantity: Annotated[int, Field(ge=1, le=checkout_service.MAX_QUANTITY)] = 1
    description: Annotated[str, Field(max_length=500)] | None = None

    @model_validator(mode="after")
    def _price_or_package(self) -> SessionLineItemIn:
        if (self.price_id is None) == (self.package_id is None):
            raise ValueError("give price_id or package_id, one of them")
        if self.billing_cycle is not None and self.package_id is None:
            raise ValueError("billing_cycle goes with package_id")
        return self

    def to_spec(self) -> checkout_service.LineItemSpec | PackageLineSpec:
        if self.package_id is not None:
            return PackageLineSpec(self.package_id, self.billing_cycle, self.quantity, self.description)
        assert self.price_id is not None  # one of them, as validated
        return checkout_service.LineItemSpec(self.price_id, self.quantity, self.description)


class CascadeTierIn(WireModel):
    line_items: Annotated[list[SessionLineItemIn], Field(min_length=1, max_length=checkout_service.MAX_LINE_ITEMS)]
    processor_route_id: str | None = None


class CardCheckoutSettingsIn(WireModel):
    three_ds_mode: ThreeDsMode | None = None


class SubscriptionParamsIn(WireModel):
    custom_fields: dict[str, Any] | None = None


class CheckoutSessionCreate(WireModel):
    success_url: Annotated[str, Field(min_length=1, max_length=2048, json_schema_extra=WEB_URL_SCHEMA)]
    return_url: Annotated[str, Field(min_length=1, max_length=2048, json_schema_extra=WEB_URL_SCHEMA)]
    customer_id: str | None = None
    expires_in_hours: Annotated[
        int, Field(ge=checkout_service.MIN_EXPIRY_HOURS, le=checkout_service.MAX_EXPIRY_HOURS)
    ] = checkout_service.DEFAULT_EXPIRY_HOURS
    line_items: Annotated[list[SessionLineItemIn], Field(max_length=checkout_service.MAX_LINE_ITEMS)] = Field(
        default_factory=list
    )
    coupon_id: str | None = None
    promotion_code: Annotated[str, Field(max_length=64)] | None = None
    card_checkout_settings: CardCheckoutSettingsIn | None = None
    processor_route_id: str | None = None
    custom_fields: dict[str, Any] | None = None
    params_for_sub: SubscriptionParamsIn | None = None
    cascade_line_items: Annotated[list[CascadeTierIn], Field(max_length=checkout_service.MAX_CASCADE_TIERS)] = Field(
        default_factory=list
    )
    metadata: Metadata = Field(default_factory=dict)
    plan_change_timing: Literal["now", "period_end"] | None = Field(
        default=None,
        description="Checkstand's extra, for a session that changes the customer's subscription: 'now' (the "
        "default) charges the prorated difference today; 'period_end' charges nothing today and changes the plan "
        "when the current period ends.",
    )
    locale: PageLocale = i18n.AUTO

    def to_spec(self) -> checkout_service.NewCheckoutSession:
        return checkout_service.NewCheckoutSession(
            success_url=self.success_url,
            return_url=self.return_url,
            line_items=[item.to_spec() for item in self.line_items],
            customer_id=self.customer_id,
            expires_in_hours=self.expires_in_hours,
            coupon_id=self.coupon_id,
            promotion_code=self.promotion_code,
            processor_route_id=self.processor_route_id,
            three_ds_mode=self.card_checkout_settings.three_ds_mode if self.card_checkout_settings else None,
            custom_fields=self.custom_fields,
            subscription_custom_fields=self.params_for_sub.custom_fields if self.params_for_sub else None,
            cascade_tiers=[
                checkout_service.TierSpec([i.to_spec() for i in tier.line_items], tier.processor_route_id)
                for tier in self.cascade_line_items
            ],
            metadata=self.metadata,
            locale=self.locale,
        )


def _line_spec(item: LineItemIn) -> checkout_service.LineItemSpec:
    return checkout_service.LineItemSpec(item.price_id, item.quantity, item.description)


class CheckoutSessionUpdate(WireModel):
    processor_route_id: str | None = None


# --- Responses ------------------------------------------------------------------------------------------------------


class LineItemOut(ResponseModel):
    id: str
    product_id: str
    price_id: str
    quantity: int
    description: str | None
    product_name: str
    price_name: str | None
    unit_amount_atom: int
    amount_subtotal_atom: int
    currency: str
    recurring_interval: str | None
    recurring_interval_count: int | None
    trial_days: int
    package_id: str | None = Field(
        default=None, description="Checkstand's extra: the package this line sells a price of, if it came from one."
    )
    created_at: datetime
    updated_at: datetime


class CascadeLineItemOut(ResponseModel):
    price_id: str
    quantity: int
    description: str | None


class CascadeTierOut(ResponseModel):
    line_items: list[CascadeLineItemOut]
    processor_route_id: str | None


class CascadeStatusOut(ResponseModel):
    total_tiers: int
    tier_amounts: list[int]


class CardCheckoutSettingsOut(ResponseModel):
    three_ds_mode: str | None


class CheckoutSessionOut(ResponseModel):
    id: str
    secure_token: str
    url: str
    customer_id: str | None
    expires_in_hours: int
    expires_at: datetime
    completed: bool
    completed_at: datetime | None
    expired_at: datetime | None
    state: str
    is_expired: bool
    success_url: str
    return_url: str
    currency: str
    amount_subtotal_atom: int
    amount_discount_atom: int
    amount_total_atom: int
    # What paying charges now: the total, less a trial's recurring part (0 for a trial alone).
    amount_due_today_atom: int
    line_items: list[LineItemOut]
    coupon_id: str | None
    promotion_code: str | None
    card_checkout_settings: CardCheckoutSettingsOut | None
    cascade_status: CascadeStatusOut | None
    cascade_tiers: list[CascadeTierOut] | None
    succeeded_tier: int | None
    processor_route_id: str | None
    metadata: dict[str, Any]
    custom_fields: dict[str, Any] | None = None
    params_for_sub: dict[str, Any] | None = None
    # A plan-change session's breakdown (current and new plan, credit for unused time, charge for the rest of the
    # period, amount due today, next renewal); None for a new purchase. An extra field the SDK keeps.
    proration: dict[str, Any] | None = None
    # Checkstand's extra, kept by the SDK's CheckoutSession (it allows extra fields): the page's language.
    locale: str = i18n.AUTO
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, checkout: CheckoutSession, *, public_url: str, expand_custom_fields: bool) -> CheckoutSessionOut:
        current = checkout_service.state(checkout)
        has_cascade = bool(checkout.cascade_routes)
        return cls(
            id=checkout.id,
            secure_token=checkout.secure_token,
            url=f"{public_url}{HOSTED_PAGE_PATH}{checkout.secure_token}",
            customer_id=checkout.customer_id,
            expires_in_hours=checkout.expires_in_hours,
            expires_at=checkout.expires_at,
            completed=checkout.status == SUCCESS,
            completed_at=checkout.completed_at,
            expired_at=checkout.expired_at,
            state=current,
            is_expired=current == "expired",
            success_url=checkout.success_url,
            return_url=checkout.return_url,
            currency=checkout.currency,
            amount_subtotal_atom=checkout.amount_subtotal_atom,
            amount_discount_atom=checkout.amount_discount_atom,
            amount_total_atom=checkout.amount_total_atom,
            amount_due_today_atom=checkout.amount_due_today_atom,
            line_items=[
                LineItemOut.model_validate(item) for item in checkout_service.tier_items(checkout, PRIMARY_TIER)
            ],
            coupon_id=checkout.coupon_id,
            promotion_code=checkout.promotion_code,
            card_checkout_settings=CardCheckoutSettingsOut(three_ds_mode=checkout.three_ds_mode),
            cascade_status=CascadeStatusOut(
                total_tiers=checkout_service.tier_count(checkout), tier_amounts=checkout.tier_amounts
            )
            if has_cascade
            else None,
            cascade_tiers=[_cascade_tier(checkout, tier) for tier in range(1, checkout_service.tier_count(checkout))]
            if has_cascade
            else None,
            succeeded_tier=checkout.succeeded_tier,
            processor_route_id=checkout.processor_route_id,
            metadata=checkout.session_metadata,
            custom_fields=checkout.custom_fields if expand_custom_fields else None,
            params_for_sub={"custom_fields": checkout.subscription_custom_fields} if expand_custom_fields else None,
            proration=checkout.proration,
            locale=checkout.locale,
            created_at=checkout.created_at,
            updated_at=checkout.updated_at,
        )


def _cascade_tier(checkout: CheckoutSession, tier: int) -> CascadeTierOut:
    return CascadeTierOut(
        line_items=[CascadeLineItemOut.model_validate(item) for item in checkout_service.tier_items(checkout, tier)],
        processor_route_id=checkout.cascade_routes[tier - 1],
    )


def _out(request: Request, checkout: CheckoutSession, expand: frozenset[str] = frozenset()) -> CheckoutSessionOut:
    return CheckoutSessionOut.of(
        checkout,
        public_url=request.app.state.settings.resolved_public_url,
        expand_custom_fields="custom_fields" in expand,
    )


# --- Endpoints ------------------------------------------------------------------------------------------------------

Expand = Annotated[frozenset[str], Depends(expand_query("custom_fields"))]


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_checkout_session(
    account_id: AccountId, body: CheckoutSessionCreate, request: Request, session: Session
) -> CheckoutSessionOut:
    checkout = await checkout_service.create_session(
        session,
        account_id,
        body.to_spec(),
        plan_change=plan_change_sessions.pricer(body.plan_change_timing),
        held_prices=subscriptions.held_price_ids,
    )
    return _out(request, checkout)


CheckoutSessionListQuery = Annotated[ListParams, Depends(list_query(checkout_service.LIST_SPEC, state=CheckoutState))]


@router.get("/")
async def list_checkout_sessions(
    account_id: AccountId, params: CheckoutSessionListQuery, request: Request, session: Session, expand: Expand
) -> PageOut[CheckoutSessionOut]:
    """``filter`` takes ``state`` (open, success, expired), ``customer_id``, ``currency``, ``coupon_id`` and
    ``processor_route_id``."""
    page = await checkout_service.list_sessions(session, account_id, params)
    return PageOut[CheckoutSessionOut].of(page, [_out(request, c, expand) for c in page.items])


@router.get("/{checkout_id}")
async def get_checkout_session(
    account_id: AccountId, checkout_id: str, request: Request, session: Session, expand: Expand
) -> CheckoutSessionOut:
    return _out(request, await checkout_service.get_session(session, account_id, checkout_id), expand)


@router.patch("/{checkout_id}")
async def update_checkout_session(
    account_id: AccountId, checkout_id: str, body: CheckoutSessionUpdate, request: Request, session: Session
) -> CheckoutSessionOut:
    """Only an open session's processor route can change; sending ``null`` clears it."""
    if "processor_route_id" not in body.model_fields_set:
        return _out(request, await checkout_service.get_session(session, account_id, checkout_id))
    checkout = await checkout_service.update_route(session, account_id, checkout_id, body.processor_route_id)
    return _out(request, checkout)


@router.post("/{checkout_id}/line-items", status_code=status.HTTP_201_CREATED)
async def add_line_item(account_id: AccountId, checkout_id: str, body: LineItemIn, session: Session) -> LineItemOut:
    line = await checkout_service.add_line_item(
        session, account_id, checkout_id, _line_spec(body), held_prices=subscriptions.held_price_ids
    )
    return LineItemOut.model_validate(line)


@router.put("/{checkout_id}/complete")
async def complete_checkout_session(
    account_id: AccountId, checkout_id: str, request: Request, session: Session
) -> CheckoutSessionOut:
    """Completes a session that needs no payment; one with an amount due is refused (``payment_required``)."""
    return _out(request, await lifecycle.complete_without_payment(session, account_id, checkout_id))


@router.post("/{checkout_id}/expire")
async def expire_checkout_session(
    account_id: AccountId, checkout_id: str, request: Request, session: Session
) -> CheckoutSessionOut:
    return _out(request, await lifecycle.expire_session(session, account_id, checkout_id))
