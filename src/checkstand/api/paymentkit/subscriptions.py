"""``subscriptions/``: read, list (also per customer) and cancel the subscriptions checkouts create.

Renders the SDK's ``SubscriptionResponse``. The SDK's other write endpoints (create, items, pause, renew...) are
not served yet, so they answer 404 rather than pretend.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from checkstand.api.http.auth import AccountId
from checkstand.api.http.query import ListQuery, expand_query
from checkstand.api.http.unit_of_work import Session
from checkstand.api.paymentkit.common import PageOut, ResponseModel
from checkstand.api.paymentkit.customers import CustomerOut
from checkstand.api.paymentkit.products import PriceOut
from checkstand.subscriptions import service as subscriptions
from checkstand.subscriptions.models import Subscription, SubscriptionItem

router = APIRouter(prefix="/api/{account_id}/subscriptions", tags=["subscriptions"])

# custom_fields is the one optional part; the others are always included and accepted so the SDK may ask for them.
EXPANDABLE = frozenset({"custom_fields", "customer", "items", "items.price", "payment_method"})


class SubscriptionItemOut(ResponseModel):
    """The SDK's ``SubscriptionItemResponse``; ``unit_amount_atom`` is the amount as sold, which a later price
    change leaves be."""

    id: str
    price: PriceOut
    quantity: int
    is_active: bool
    start_at_end: bool = False
    drop_at_end: bool = False
    product_name: str
    product_id: str
    unit_amount_atom: int
    description: str | None

    @classmethod
    def of(cls, item: SubscriptionItem) -> SubscriptionItemOut:
        return cls(
            id=item.id,
            price=PriceOut.of(item.price, custom_fields=False),
            quantity=item.quantity,
            is_active=True,
            product_name=item.product_name,
            product_id=item.product_id,
            unit_amount_atom=item.unit_amount_atom,
            description=item.description,
        )


class SubscriptionOut(ResponseModel):
    """The SDK's ``SubscriptionResponse``, plus Stripe's fields it lacks (interval, cancellation, the coupon terms
    and the saved payment method's reference)."""

    id: str
    state: str
    currency: str
    description: str | None = None
    current_period_start: datetime
    current_period_end: datetime
    trial_start: datetime | None
    trial_end: datetime | None
    created_at: datetime
    updated_at: datetime
    items: list[SubscriptionItemOut]
    customer: CustomerOut
    collection_method: str = "charge_automatically"
    payment_method: dict[str, Any] | None = None
    note_id: str | None = None
    metadata: dict[str, Any]
    custom_fields: dict[str, Any] | None = Field(description="Only with expand=custom_fields.")
    account_id: str
    customer_id: str
    checkout_session_id: str | None
    billing_interval: str
    billing_interval_count: int
    cancel_at_period_end: bool
    canceled_at: datetime | None
    default_payment_method_id: str | None
    processor_id: str | None
    coupon_id: str | None
    discount: dict[str, Any] | None

    @classmethod
    def of(cls, subscription: Subscription, *, expand: frozenset[str] = frozenset()) -> SubscriptionOut:
        return cls(
            id=subscription.id,
            state=subscription.status,
            currency=subscription.currency,
            current_period_start=subscription.current_period_start,
            current_period_end=subscription.current_period_end,
            trial_start=subscription.trial_start,
            trial_end=subscription.trial_end,
            created_at=subscription.created_at,
            updated_at=subscription.updated_at,
            items=[SubscriptionItemOut.of(item) for item in subscription.items],
            customer=CustomerOut.of(subscription.customer),
            metadata=subscription.subscription_metadata,
            custom_fields=subscription.custom_fields if "custom_fields" in expand else None,
            account_id=subscription.account_id,
            customer_id=subscription.customer_id,
            checkout_session_id=subscription.checkout_session_id,
            billing_interval=subscription.billing_interval,
            billing_interval_count=subscription.billing_interval_count,
            cancel_at_period_end=subscription.cancel_at_period_end,
            canceled_at=subscription.canceled_at,
            default_payment_method_id=subscription.payment_method_reference,
            processor_id=subscription.processor_id,
            coupon_id=subscription.coupon_id,
            discount=subscription.discount,
        )


SubscriptionPage = PageOut[SubscriptionOut]


Expand = Annotated[frozenset[str], Depends(expand_query(*EXPANDABLE))]
State = Annotated[str | None, Query(max_length=16, description="Only subscriptions in this state.")]


@router.get("/")
async def list_subscriptions(
    account_id: AccountId,
    params: ListQuery,
    expand: Expand,
    session: Session,
    customer_external_id: Annotated[
        str | None, Query(max_length=64, description="Only this customer's subscriptions (its cus_ id).")
    ] = None,
    state: State = None,
) -> SubscriptionPage:
    """Newest first; also filterable (``filter``) by customer_id, currency, state, checkout_session_id,
    billing_interval and cancel_at_period_end."""
    page = await subscriptions.list_subscriptions(
        session, account_id, params, customer_id=customer_external_id, state=state
    )
    items = [SubscriptionOut.of(subscription, expand=expand) for subscription in page.items]
    return SubscriptionPage(items=items, total=page.total, has_more=page.has_more)


@router.get("/by-customer/{customer_external_id}")
async def list_subscriptions_by_customer(
    account_id: AccountId, customer_external_id: str, expand: Expand, session: Session, state: State = None
) -> list[SubscriptionOut]:
    """The customer's (its ``cus_`` id) subscriptions, newest first, at most 100: the SDK expects a bare list."""
    found = await subscriptions.list_by_customer(session, account_id, customer_external_id, state=state)
    return [SubscriptionOut.of(subscription, expand=expand) for subscription in found]


@router.get("/{subscription_id}")
async def get_subscription(
    account_id: AccountId, subscription_id: str, expand: Expand, session: Session
) -> SubscriptionOut:
    return SubscriptionOut.of(await subscriptions.get_subscription(session, account_id, subscription_id), expand=expand)


@router.post("/{subscription_id}/cancel")
async def cancel_subscription(account_id: AccountId, subscription_id: str, session: Session) -> SubscriptionOut:
    """Cancels at once; cancelling a canceled subscription is a 409."""
    return SubscriptionOut.of(await subscriptions.cancel(session, account_id, subscription_id), expand=EXPANDABLE)


@router.post("/{subscription_id}/cancel_at_period_end")
async def set_cancel_at_period_end(
    account_id: AccountId,
    subscription_id: str,
    session: Session,
    value: Annotated[bool, Query(description="true ends it when the current period ends; false keeps it.")] = True,
) -> SubscriptionOut:
    subscription = await subscriptions.set_cancel_at_period_end(session, account_id, subscription_id, value)
    return SubscriptionOut.of(subscription, expand=EXPANDABLE)
