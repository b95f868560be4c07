"""Subscriptions for tests, made the way the payment flow will make them: a checkout session, a customer, then
:func:`create_from_checkout` (the completion transaction that calls it is another module's)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.checkout import service as checkout_service
from checkstand.checkout.models import PRIMARY_TIER, CheckoutSession
from checkstand.customers import service as customers
from checkstand.subscriptions import service as subscriptions
from checkstand.subscriptions.models import Subscription

PAYMENT_METHOD = "pm_card_visa"


async def recurring_price(
    session: AsyncSession,
    account_id: str,
    product_id: str,
    *,
    interval: str = "month",
    count: int = 1,
    trial_days: int = 0,
    amount: int = 1200,
) -> str:
    price = await catalog.create_price(
        session,
        account_id,
        product_id=product_id,
        currency="usd",
        unit_amount_atom=amount,
        recurring_interval=interval,
        recurring_interval_count=count,
        trial_days=trial_days,
    )
    return price.id


async def checkout_for(
    session: AsyncSession,
    account_id: str,
    price_ids: Sequence[str],
    *,
    coupon_id: str | None = None,
    subscription_custom_fields: Mapping[str, Any] | None = None,
    fallback_price_ids: Sequence[str] = (),
) -> CheckoutSession:
    cascade = (
        [checkout_service.TierSpec([checkout_service.LineItemSpec(p) for p in fallback_price_ids])]
        if fallback_price_ids
        else []
    )
    return await checkout_service.create_session(
        session,
        account_id,
        checkout_service.NewCheckoutSession(
            success_url="https://shop.example/ok",
            return_url="https://shop.example/cart",
            line_items=[checkout_service.LineItemSpec(price_id, quantity=2) for price_id in price_ids],
            coupon_id=coupon_id,
            subscription_custom_fields=subscription_custom_fields,
            cascade_tiers=cascade,
        ),
    )


async def subscribe(
    session: AsyncSession,
    checkout: CheckoutSession,
    *,
    tier: int = PRIMARY_TIER,
    email: str = "ada@example.com",
) -> Subscription | None:
    customer = await customers.create_customer(session, checkout.account_id, email=email)
    return await subscriptions.create_from_checkout(
        session,
        checkout,
        tier=tier,
        customer_id=customer.id,
        payment_method_reference=PAYMENT_METHOD,
        processor_id="proc_simulator",
    )


async def new_subscription(session: AsyncSession, account_id: str, price_ids: Sequence[str], **kw: Any) -> Subscription:
    """A committed subscription selling ``price_ids`` (at least one recurring)."""
    subscription = await subscribe(session, await checkout_for(session, account_id, price_ids), **kw)
    assert subscription is not None
    await session.commit()
    return subscription
