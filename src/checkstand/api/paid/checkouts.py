"""Paid's ``checkouts``: a checkout is a checkout session (``chk_X`` is ``cs_X``), made from the products and plans
the merchant offers (:mod:`checkstand.checkout.offers`); the customer picks a plan and pays on the hosted page at
``url``. Any session reads as a checkout, one made by the PaymentKit dialect too: its products are its lines'."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Path, Query, Request, status
from pydantic import AwareDatetime, Field, StringConstraints, field_validator

from checkstand.api.http.unit_of_work import Session
from checkstand.api.paid import ids
from checkstand.api.paid.wire import AccountId, PaidList, PaidModel, PaidPageParams, PaidRequest
from checkstand.catalog import service as catalog
from checkstand.checkout import offers
from checkstand.checkout import service as checkout_service
from checkstand.checkout.models import EXPIRED, OPEN, PRIMARY_TIER, SUCCESS, CheckoutSession
from checkstand.checkout.offer_terms import CHECKOUT_ID_PLACEHOLDER, CustomCard, OfferedProduct, is_offer
from checkstand.core import metadata as metadata_rules
from checkstand.core.errors import NotFound
from checkstand.core.urls import WEB_URL_PATTERN
from checkstand.payments import plan_change_sessions
from checkstand.subscriptions import service as subscriptions

router = APIRouter(prefix="/checkouts", tags=["paid: checkouts"])

HOSTED_PAGE_PATH: Final = "/c/"
CheckoutStatus = Literal["active", "completed", "expired", "archived"]
_STATUSES: Final[dict[str, CheckoutStatus]] = {
    OPEN: "active",
    SUCCESS: "completed",
    EXPIRED: "expired",
    offers.ARCHIVED: "archived",
}
_STATES: Final = {wire: state for state, wire in _STATUSES.items()}
# The reference's URL pattern (core.urls) less braces, which only successUrl's {CHECKOUT_ID} may hold.
_URL_TAIL: Final = r"(?:[/?#][A-Za-z0-9._~:/?#\[\]@!$&()*+=%{}-]*)?$"
_PLAIN_URL: Final = WEB_URL_PATTERN.replace(_URL_TAIL, r"(?:[/?#][A-Za-z0-9._~:/?#\[\]@!$&()*+=%-]*)?$")
_SUCCESS_URL: Final = WEB_URL_PATTERN.replace(
    _URL_TAIL, r"(?:[/?#](?:[A-Za-z0-9._~:/?#\[\]@!$&()*+=%-]|\{CHECKOUT_ID\})*)?$"
)
_URL_HELP: Final = (
    "An absolute http or https URL, without credentials, spaces, control characters or ; , ' \" < > \\ ^ `."
)
MAX_METADATA_JSON: Final = 8_000

Url = Annotated[str, Field(min_length=1, max_length=2048, json_schema_extra={"pattern": _PLAIN_URL})]


# --- Requests -------------------------------------------------------------------------------------------------------


class CheckoutPlanIn(PaidRequest):
    """The SDK's ``CheckoutPlanInput``: a plan (a price) of the product, and the bullet points shown for it."""

    id: Annotated[str, Field(min_length=1, max_length=64)]
    features: (
        Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=200)]], Field(max_length=20)] | None
    ) = None


class CheckoutProductIn(PaidRequest):
    """The SDK's ``CheckoutProductInput``: without ``plans``, the product is sold at its default price."""

    id: Annotated[str, Field(min_length=1, max_length=64)]
    plans: Annotated[list[CheckoutPlanIn], Field(min_length=1, max_length=offers.MAX_PLANS)] | None = None


class CustomCardIn(PaidRequest):
    """The SDK's ``CheckoutCustomCardInput``: an informational card beside the plans (nothing is sold through it)."""

    label: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    price_text: Annotated[str, StringConstraints(max_length=100)] | None = None
    button_text: Annotated[str, StringConstraints(max_length=50)] | None = None
    button_url: Url | None = None


class CheckoutCreate(PaidRequest):
    products: Annotated[list[CheckoutProductIn], Field(min_length=1, max_length=offers.MAX_PRODUCTS)]
    customer_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    external_customer_id: Annotated[str, Field(min_length=1, max_length=255)] | None = Field(
        default=None,
        description="The merchant's own id of the customer; a customer is created with it on first use. Not with "
        "customerId.",
    )
    success_url: Annotated[str, Field(min_length=1, max_length=2048, json_schema_extra={"pattern": _SUCCESS_URL})] = (
        Field(
            description=f"{_URL_HELP} {CHECKOUT_ID_PLACEHOLDER} in it becomes the checkout's id when the customer is "
            "sent there; no other braces."
        )
    )
    cancel_url: Url | None = Field(default=None, description=f"{_URL_HELP} The page's cancel link; none without it.")
    expires_at: AwareDatetime | None = Field(
        default=None,
        description="When the checkout expires: in the future, at most "
        f"{checkout_service.MAX_EXPIRY_HOURS // 24} days ahead; {checkout_service.DEFAULT_EXPIRY_HOURS} hours from "
        "now when omitted.",
    )
    metadata: (
        Annotated[
            dict[Annotated[str, StringConstraints(min_length=1, max_length=metadata_rules.MAX_KEY_LENGTH)], Any],
            Field(max_length=metadata_rules.MAX_KEYS),
        ]
        | None
    ) = Field(
        default=None,
        description=f"The merchant's; never shown to the customer. At most {metadata_rules.MAX_KEYS} keys of at most "
        f"{metadata_rules.MAX_KEY_LENGTH} characters, {MAX_METADATA_JSON} characters as JSON.",
    )
    collect_address: bool | None = Field(default=None, description="Ask the customer's address (default true).")
    collect_phone: bool | None = Field(default=None, description="Ask the customer's phone number (default false).")
    single_use: bool | None = Field(
        default=None,
        description="Default true. False makes a reusable link: each visit of its url is a new purchase, and the "
        "checkout itself stays active.",
    )
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$")] | None = None
    custom_cards: Annotated[list[CustomCardIn], Field(max_length=offers.MAX_CARDS)] | None = None

    @field_validator("metadata")
    @classmethod
    def _bounded_metadata(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(json.dumps(value)) > MAX_METADATA_JSON:
            raise ValueError(f"at most {MAX_METADATA_JSON} characters as JSON")
        return value

    def to_spec(self) -> offers.NewOffer:
        return offers.NewOffer(
            products=[
                offers.ProductPick(
                    product.id,
                    None
                    if product.plans is None
                    else [offers.PlanPick(plan.id, plan.features) for plan in product.plans],
                )
                for product in self.products
            ],
            success_url=self.success_url,
            cancel_url=self.cancel_url,
            customer_id=self.customer_id,
            external_customer_id=self.external_customer_id,
            expires_at=None if self.expires_at is None else self.expires_at.astimezone(UTC),
            metadata=self.metadata or {},
            collect_address=True if self.collect_address is None else self.collect_address,
            collect_phone=bool(self.collect_phone),
            single_use=True if self.single_use is None else self.single_use,
            currency=self.currency,
            custom_cards=[
                CustomCard(card.label, card.price_text, card.button_text, card.button_url)
                for card in self.custom_cards or []
            ],
        )


# --- Responses ------------------------------------------------------------------------------------------------------


class CheckoutPlanOut(PaidModel):
    id: str
    features: list[str] | None = None


class CheckoutProductOut(PaidModel):
    """``plans`` is absent for a product sold at its default price."""

    id: str
    plans: list[CheckoutPlanOut] | None = None


class CustomCardOut(PaidModel):
    label: str
    price_text: str | None
    button_text: str | None
    button_url: str | None


class CheckoutOut(PaidModel):
    """The SDK's ``Checkout``; currencies in capitals."""

    id: str
    url: str
    status: CheckoutStatus
    products: list[CheckoutProductOut]
    customer_id: str | None
    external_customer_id: str | None
    success_url: str
    cancel_url: str | None
    expires_at: datetime | None
    metadata: dict[str, Any]
    collect_address: bool
    collect_phone: bool
    single_use: bool
    allowed_currencies: list[str]
    custom_cards: list[CustomCardOut] | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def fields_of(cls, checkout: CheckoutSession, *, public_url: str, external_id: str | None) -> dict[str, Any]:
        return {
            "id": ids.checkout_id(checkout.id),
            "url": f"{public_url}{HOSTED_PAGE_PATH}{checkout.secure_token}",
            "status": _STATUSES[offers.status(checkout)],
            "products": _products(checkout),
            "customer_id": checkout.customer_id,
            "external_customer_id": external_id,
            "success_url": checkout.success_url,
            "cancel_url": checkout.cancel_url,
            "expires_at": checkout.expires_at,
            "metadata": checkout.session_metadata,
            "collect_address": checkout.collect_address,
            "collect_phone": checkout.collect_phone,
            "single_use": checkout.single_use,
            "allowed_currencies": [currency.upper() for currency in checkout.allowed_currencies or [checkout.currency]],
            "custom_cards": [CustomCardOut.model_validate(card) for card in checkout.custom_cards] or None,
            "created_at": checkout.created_at,
            "updated_at": checkout.updated_at,
        }

    @classmethod
    def of(cls, checkout: CheckoutSession, *, public_url: str, external_id: str | None) -> CheckoutOut:
        return cls(**cls.fields_of(checkout, public_url=public_url, external_id=external_id))


class PlanRefOut(PaidModel):
    id: str
    name: str | None
    external_id: str | None


class SelectedProductOut(PaidModel):
    """The product and plan the customer bought, once the checkout is completed."""

    id: str
    plan: PlanRefOut | None


class CheckoutDetailsOut(CheckoutOut):
    """The SDK's ``CheckoutDetails``: ``orderId`` is the order the completed checkout made or changed
    (:func:`checkstand.api.paid.ids.order_id`)."""

    order_id: str | None
    selected_product: SelectedProductOut | None


def _products(checkout: CheckoutSession) -> list[CheckoutProductOut]:
    """What the checkout offers: the merchant's products and plans, or a PaymentKit session's lines by product."""
    if is_offer(checkout):
        offered = [OfferedProduct.of(stored) for stored in checkout.offered_products]
        return [
            CheckoutProductOut(
                id=product.product_id,
                plans=[
                    CheckoutPlanOut(id=price_id, features=(product.features or {}).get(price_id))
                    for price_id in product.price_ids
                ]
                if product.named
                else None,
            )
            for product in offered
        ]
    by_product: dict[str, list[CheckoutPlanOut]] = {}
    for line in checkout_service.tier_items(checkout, PRIMARY_TIER):
        by_product.setdefault(line.product_id, []).append(CheckoutPlanOut(id=line.price_id))
    return [CheckoutProductOut(id=product_id, plans=plans) for product_id, plans in by_product.items()]


def _public_url(request: Request) -> str:
    url: str = request.app.state.settings.resolved_public_url
    return url


async def _external_id(session: Session, checkout: CheckoutSession) -> str | None:
    if checkout.customer_id is None:
        return None
    found = await offers.external_customer_ids(session, checkout.account_id, [checkout.customer_id])
    return found.get(checkout.customer_id)


async def _details(session: Session, request: Request, checkout: CheckoutSession) -> CheckoutDetailsOut:
    """The checkout with what its completion made: the order, and the plan sold (a recurring one first)."""
    subscription_id = await subscriptions.subscription_id_of_checkout(session, checkout)
    selected = None
    if (line := offers.line_sold(checkout)) is not None:
        price = await catalog.get_price(session, checkout.account_id, line.price_id)
        plan = PlanRefOut(id=price.id, name=price.name, external_id=price.external_id)
        selected = SelectedProductOut(id=line.product_id, plan=plan)
    return CheckoutDetailsOut(
        **CheckoutOut.fields_of(
            checkout, public_url=_public_url(request), external_id=await _external_id(session, checkout)
        ),
        order_id=ids.order_id(subscription_id, checkout.id) if checkout.status == SUCCESS else None,
        selected_product=selected,
    )


CheckoutId = Annotated[str, Path(min_length=1, max_length=64, description="The checkout's id (chk_...).")]


async def _checkout(session: Session, account_id: str, checkout_id: str) -> CheckoutSession:
    """The checkout a Paid id names; its PaymentKit id (``cs_...``) names the same one."""
    session_id = ids.session_id(checkout_id) or (checkout_id if checkout_id.startswith(ids.SESSION_PREFIX) else None)
    if session_id is not None:
        with contextlib.suppress(NotFound):
            return await offers.get_checkout(session, account_id, session_id)
    raise NotFound("checkout", checkout_id)


# --- Endpoints ------------------------------------------------------------------------------------------------------


@router.get("/")
async def list_checkouts(
    account_id: AccountId,
    page: PaidPageParams,
    request: Request,
    session: Session,
    status: Annotated[CheckoutStatus | None, Query(description="Only the checkouts in this status.")] = None,
) -> PaidList[CheckoutOut]:
    """Newest first."""
    found = await offers.list_checkouts(session, account_id, None if status is None else _STATES[status], page)
    external = await offers.external_customer_ids(
        session, account_id, {checkout.customer_id for checkout in found.items if checkout.customer_id is not None}
    )
    public_url = _public_url(request)
    data = [
        CheckoutOut.of(checkout, public_url=public_url, external_id=external.get(checkout.customer_id or ""))
        for checkout in found.items
    ]
    return PaidList[CheckoutOut].of(found, data)


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_checkout(
    account_id: AccountId, body: CheckoutCreate, request: Request, session: Session
) -> CheckoutOut:
    """A customer who already subscribes to a product on offer gets the plan change, prorated, in place of a second
    subscription."""
    checkout = await offers.create_offer(
        session,
        account_id,
        body.to_spec(),
        plan_change=plan_change_sessions.price_session,
        held_prices=subscriptions.held_price_ids,
    )
    return CheckoutOut.of(checkout, public_url=_public_url(request), external_id=await _external_id(session, checkout))


@router.get("/{checkout_id}")
async def get_checkout(
    account_id: AccountId, checkout_id: CheckoutId, request: Request, session: Session
) -> CheckoutDetailsOut:
    return await _details(session, request, await _checkout(session, account_id, checkout_id))


@router.delete("/{checkout_id}")
async def archive_checkout(account_id: AccountId, checkout_id: CheckoutId, session: Session) -> dict[str, Any]:
    """The page refuses to sell an archived checkout; a completed one stays completed. Refused (409) while a payment
    of it is in flight."""
    checkout = await _checkout(session, account_id, checkout_id)
    await offers.archive(session, account_id, checkout.id)
    return {}
