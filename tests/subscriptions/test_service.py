"""Subscriptions created by a checkout, read, listed and cancelled, at the service level on both backends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.core.clock import FrozenClock
from checkstand.core.errors import Conflict, InvalidFields, NotFound
from checkstand.core.listing import ListParams
from checkstand.core.pagination import PageParams
from checkstand.customers import service as customers
from checkstand.db import Database
from checkstand.discounts import coupons
from checkstand.events.models import Event
from checkstand.subscriptions import service as subscriptions
from checkstand.subscriptions.models import Subscription
from tests.shop import Shop
from tests.subscriptions.factory import PAYMENT_METHOD, checkout_for, new_subscription, recurring_price, subscribe


def at(frozen_clock: FrozenClock, moment: datetime) -> datetime:
    frozen_clock.advance(moment - frozen_clock.now())
    return moment


async def events(session: AsyncSession, type: str) -> list[Event]:
    return list((await session.scalars(select(Event).where(Event.type == type).order_by(Event.seq))).all())


async def subscription_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Subscription)) or 0)


async def test_monthly_without_trial_is_active_for_one_calendar_month(
    session: AsyncSession, shop: Shop, frozen_clock: FrozenClock
) -> None:
    monthly = await recurring_price(session, shop.account_id, shop.tshirt_product, amount=1200)
    now = at(frozen_clock, datetime(2027, 1, 31, 15, 0, tzinfo=UTC))
    checkout = await checkout_for(session, shop.account_id, [monthly])

    subscription = await subscribe(session, checkout)

    assert subscription is not None
    assert subscription.id.startswith("sub_")
    assert subscription.status == "active"
    assert (subscription.trial_start, subscription.trial_end) == (None, None)
    assert subscription.current_period_start == now
    assert subscription.current_period_end == datetime(2027, 2, 28, 15, 0, tzinfo=UTC)
    assert (subscription.billing_interval, subscription.billing_interval_count) == ("month", 1)
    assert subscription.checkout_session_id == checkout.id
    assert subscription.currency == "usd"
    assert subscription.payment_method_reference == PAYMENT_METHOD
    assert subscription.processor_id == "proc_simulator"
    [item] = subscription.items
    assert item.id.startswith("si_")
    assert (item.price_id, item.quantity, item.unit_amount_atom) == (monthly, 2, 1200)


async def test_a_month_from_january_31_of_a_leap_year_ends_february_29(
    session: AsyncSession, shop: Shop, frozen_clock: FrozenClock
) -> None:
    monthly = await recurring_price(session, shop.account_id, shop.tshirt_product)
    at(frozen_clock, datetime(2028, 1, 31, 8, 0, tzinfo=UTC))
    subscription = await subscribe(session, await checkout_for(session, shop.account_id, [monthly]))
    assert subscription is not None
    assert subscription.current_period_end == datetime(2028, 2, 29, 8, 0, tzinfo=UTC)


async def test_yearly_period_lasts_a_calendar_year(
    session: AsyncSession, shop: Shop, frozen_clock: FrozenClock
) -> None:
    at(frozen_clock, datetime(2028, 2, 29, 12, 0, tzinfo=UTC))
    subscription = await subscribe(session, await checkout_for(session, shop.account_id, [shop.yearly]))
    assert subscription is not None
    assert subscription.status == "active"
    assert (subscription.billing_interval, subscription.billing_interval_count) == ("year", 1)
    assert subscription.current_period_end == datetime(2029, 2, 28, 12, 0, tzinfo=UTC)


async def test_every_two_weeks_lasts_fourteen_days(
    session: AsyncSession, shop: Shop, frozen_clock: FrozenClock
) -> None:
    fortnightly = await recurring_price(session, shop.account_id, shop.tshirt_product, interval="week", count=2)
    now = at(frozen_clock, datetime(2027, 12, 25, 23, 59, tzinfo=UTC))
    subscription = await subscribe(session, await checkout_for(session, shop.account_id, [fortnightly]))
    assert subscription is not None
    assert (subscription.billing_interval, subscription.billing_interval_count) == ("week", 2)
    assert subscription.current_period_end - subscription.current_period_start == timedelta(days=14)
    assert subscription.current_period_start == now


async def test_a_trial_makes_it_trialing_and_the_first_period_starts_when_the_trial_ends(
    session: AsyncSession, shop: Shop, frozen_clock: FrozenClock
) -> None:
    now = at(frozen_clock, datetime(2027, 1, 17, 10, 0, tzinfo=UTC))
    subscription = await subscribe(session, await checkout_for(session, shop.account_id, [shop.monthly]))

    assert subscription is not None
    assert subscription.status == "trialing"
    assert subscription.trial_start == now
    assert subscription.trial_end == datetime(2027, 1, 31, 10, 0, tzinfo=UTC)
    assert subscription.current_period_start == subscription.trial_end
    assert subscription.current_period_end == datetime(2027, 2, 28, 10, 0, tzinfo=UTC)


async def test_the_longest_trial_wins_and_a_trial_extension_coupon_adds_to_it(
    session: AsyncSession, shop: Shop, frozen_clock: FrozenClock
) -> None:
    short_trial = await recurring_price(session, shop.account_id, shop.tshirt_product, trial_days=3)
    coupon = await coupons.create_coupon(
        session, shop.account_id, discount_type="trial_extension", trial_days_off=7, duration="once"
    )
    now = at(frozen_clock, datetime(2027, 3, 1, tzinfo=UTC))
    checkout = await checkout_for(session, shop.account_id, [short_trial, shop.monthly], coupon_id=coupon.id)

    subscription = await subscribe(session, checkout)

    assert subscription is not None
    assert subscription.status == "trialing"
    assert subscription.trial_end == now + timedelta(days=14 + 7)
    assert subscription.coupon_id == coupon.id
    assert subscription.discount is not None
    assert subscription.discount["discount_type"] == "trial_extension"


async def test_a_repeating_coupon_is_recorded_with_its_terms_for_renewals(session: AsyncSession, shop: Shop) -> None:
    coupon = await coupons.create_coupon(
        session,
        shop.account_id,
        discount_type="percent_off",
        percent_off_bp=2_500,
        duration="repeating",
        duration_in_months=3,
    )
    created = await subscribe(session, await checkout_for(session, shop.account_id, [shop.yearly], coupon_id=coupon.id))
    assert created is not None
    await session.commit()
    # Deleting the coupon later must not change what this subscription was sold.
    await coupons.delete_coupon(session, shop.account_id, coupon.id)
    await session.commit()
    session.expunge_all()

    subscription = await subscriptions.get_subscription(session, shop.account_id, created.id)
    assert subscription.coupon_id == coupon.id
    assert subscription.discount is not None
    assert (subscription.discount["percent_off_bp"], subscription.discount["duration"]) == (2_500, "repeating")
    assert subscription.discount["duration_in_months"] == 3


async def test_a_session_selling_nothing_recurring_makes_no_subscription(session: AsyncSession, shop: Shop) -> None:
    subscription = await subscribe(session, await checkout_for(session, shop.account_id, [shop.tshirt, shop.sticker]))
    assert subscription is None
    assert await subscription_count(session) == 0
    assert await events(session, "subscription.created") == []


async def test_only_the_recurring_items_become_subscription_items(session: AsyncSession, shop: Shop) -> None:
    checkout = await checkout_for(session, shop.account_id, [shop.tshirt, shop.yearly, shop.sticker])
    subscription = await subscribe(session, checkout)
    assert subscription is not None
    assert [item.price_id for item in subscription.items] == [shop.yearly]
    assert subscription.items[0].product_name == "Pro plan"


async def test_the_tier_that_was_paid_decides_the_items(session: AsyncSession, shop: Shop) -> None:
    checkout = await checkout_for(session, shop.account_id, [shop.yearly], fallback_price_ids=[shop.monthly])
    subscription = await subscribe(session, checkout, tier=1)
    assert subscription is not None
    assert [item.price_id for item in subscription.items] == [shop.monthly]
    assert subscription.status == "trialing"


async def test_custom_fields_come_from_params_for_sub(session: AsyncSession, shop: Shop) -> None:
    checkout = await checkout_for(session, shop.account_id, [shop.yearly], subscription_custom_fields={"seats": 5})
    subscription = await subscribe(session, checkout)
    assert subscription is not None
    assert subscription.custom_fields == {"seats": 5}


async def test_creation_records_subscription_created(session: AsyncSession, shop: Shop) -> None:
    subscription = await subscribe(session, await checkout_for(session, shop.account_id, [shop.yearly]))
    assert subscription is not None
    [event] = await events(session, "subscription.created")
    assert (event.account_id, event.aggregate_type, event.aggregate_id) == (
        shop.account_id,
        "subscription",
        subscription.id,
    )
    assert event.data["state"] == "active"
    assert [item["price"]["id"] for item in event.data["items"]] == [shop.yearly]
    assert event.data["customer"]["id"] == subscription.customer_id


async def test_one_subscription_per_checkout_session(session: AsyncSession, shop: Shop) -> None:
    checkout = await checkout_for(session, shop.account_id, [shop.yearly])
    assert await subscribe(session, checkout) is not None
    await session.commit()
    with pytest.raises(IntegrityError):
        await subscribe(session, checkout, email="twice@example.com")
    await session.rollback()
    assert await subscription_count(session) == 1


async def test_the_customer_must_belong_to_the_account(session: AsyncSession, shop: Shop) -> None:
    other = await accounts.create_account(session, name="Other")
    stranger = await customers.create_customer(session, other.id, email="eve@example.com")
    checkout = await checkout_for(session, shop.account_id, [shop.yearly])
    with pytest.raises(NotFound):
        await subscriptions.create_from_checkout(
            session, checkout, tier=0, customer_id=stranger.id, payment_method_reference=None, processor_id=None
        )


async def test_get_and_list_stay_within_the_account(session: AsyncSession, shop: Shop) -> None:
    subscription = await new_subscription(session, shop.account_id, [shop.yearly])
    other = await accounts.create_account(session, name="Other")

    assert (await subscriptions.get_subscription(session, shop.account_id, subscription.id)).id == subscription.id
    with pytest.raises(NotFound):
        await subscriptions.get_subscription(session, other.id, subscription.id)
    page = await subscriptions.list_subscriptions(session, other.id, ListParams(PageParams()))
    assert (page.total, list(page.items)) == (0, [])
    with pytest.raises(NotFound):
        await subscriptions.list_by_customer(session, other.id, subscription.customer_id)


async def test_lists_are_newest_first_and_filter_by_state_and_customer(
    session: AsyncSession, shop: Shop, frozen_clock: FrozenClock
) -> None:
    first = await new_subscription(session, shop.account_id, [shop.yearly], email="a@example.com")
    frozen_clock.advance(timedelta(minutes=1))
    trialing = await new_subscription(session, shop.account_id, [shop.monthly], email="b@example.com")
    everything = ListParams(PageParams())

    page = await subscriptions.list_subscriptions(session, shop.account_id, everything)
    assert [s.id for s in page.items] == [trialing.id, first.id]
    active = await subscriptions.list_subscriptions(session, shop.account_id, everything, state="active")
    assert [s.id for s in active.items] == [first.id]
    mine = await subscriptions.list_subscriptions(
        session, shop.account_id, everything, customer_id=trialing.customer_id
    )
    assert [s.id for s in mine.items] == [trialing.id]
    by_filter = await subscriptions.list_subscriptions(
        session, shop.account_id, ListParams(PageParams(), filters={"state": "trialing"})
    )
    assert [s.id for s in by_filter.items] == [trialing.id]
    by_customer = await subscriptions.list_by_customer(session, shop.account_id, first.customer_id, state="active")
    assert [s.id for s in by_customer] == [first.id]
    with pytest.raises(InvalidFields) as refused:
        await subscriptions.list_subscriptions(session, shop.account_id, everything, state="sleeping")
    assert refused.value.problems[0].path == ("state",)


async def test_cancel_ends_it_now_and_records_subscription_canceled(
    session: AsyncSession, shop: Shop, frozen_clock: FrozenClock
) -> None:
    subscription = await new_subscription(session, shop.account_id, [shop.yearly])
    frozen_clock.advance(timedelta(days=3))

    canceled = await subscriptions.cancel(session, shop.account_id, subscription.id)

    assert canceled.status == "canceled"
    assert canceled.canceled_at == frozen_clock.now()
    [event] = await events(session, "subscription.canceled")
    assert event.data["state"] == "canceled"
    assert event.previous_data is not None
    assert event.previous_data["state"] == "active"
    with pytest.raises(Conflict):
        await subscriptions.cancel(session, shop.account_id, subscription.id)


async def test_cancel_at_period_end_is_set_and_cleared(session: AsyncSession, shop: Shop) -> None:
    subscription = await new_subscription(session, shop.account_id, [shop.yearly])

    assert (
        await subscriptions.set_cancel_at_period_end(session, shop.account_id, subscription.id, True)
    ).cancel_at_period_end
    again = await subscriptions.set_cancel_at_period_end(session, shop.account_id, subscription.id, True)
    assert again.cancel_at_period_end
    cleared = await subscriptions.set_cancel_at_period_end(session, shop.account_id, subscription.id, False)

    assert not cleared.cancel_at_period_end
    assert cleared.status == "active"
    # Setting what is already set changes nothing and announces nothing.
    updates = await events(session, "subscription.updated")
    assert [e.data["cancel_at_period_end"] for e in updates] == [True, False]


async def test_concurrent_cancels_cancel_once(database: Database, session: AsyncSession, shop: Shop) -> None:
    subscription = await new_subscription(session, shop.account_id, [shop.yearly])

    async def cancel() -> str:
        async with database.writing() as own:
            try:
                await subscriptions.cancel(own, shop.account_id, subscription.id)
            except Conflict:
                await own.rollback()
                return "conflict"
            await own.commit()
            return "canceled"

    outcomes = await asyncio.gather(*(cancel() for _ in range(6)))

    assert sorted(outcomes) == ["canceled"] + ["conflict"] * 5
    assert len(await events(session, "subscription.canceled")) == 1
