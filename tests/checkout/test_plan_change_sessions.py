"""Checkout that upgrades, on both backends: a session for a customer who subscribes to the product it sells is a
plan change, priced to the second at the customer's clock time; the same price is refused before anything is stored;
paying it amends the one subscription and charges the proration's net; two changes paid at once apply one."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout.models import CheckoutSession
from checkstand.core.errors import Conflict
from checkstand.db import Database
from checkstand.payments import flow
from checkstand.payments.models import Payment
from checkstand.subscriptions.models import Subscription
from tests.invoices.factory import billing, fresh, monthly_price_of_its_product
from tests.payments.flow import card, gateway
from tests.payments.plan_change_setup import START, mid_period, plan_change_session

PRO = 3000


async def test_an_upgrade_half_way_is_priced_to_the_second_at_the_customers_time(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    setup = await mid_period(database, session, merchant[0])
    checkout = await plan_change_session(session, setup, await monthly_price_of_its_product(session, setup, PRO))

    assert checkout.changes_subscription_id == setup.subscription_id
    assert checkout.proration_date == START + timedelta(days=15)
    assert checkout.proration is not None
    # 14 of the period's 29 days are left: each line rounded half-even once.
    assert checkout.proration["credit_atom"] == 434  # 900 * 14 / 29 = 434.48
    assert checkout.proration["charge_atom"] == 1448  # 3000 * 14 / 29 = 1448.28
    assert checkout.amount_due_today_atom == 1448 - 434
    assert [line["price_id"] for line in checkout.proration["current_plan"]] == [
        (await fresh(session, setup.subscription_id)).items[0].price_id
    ]


async def test_the_same_price_again_is_refused_before_anything_is_stored(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    setup = await billing(database, session, merchant[0], frozen_time=START)
    held = (await fresh(session, setup.subscription_id)).items[0].price_id
    count = await session.scalar(select(func.count()).select_from(CheckoutSession))

    with pytest.raises(Conflict) as refused:
        await plan_change_session(session, setup, held)
    await session.rollback()

    assert refused.value.code == "already_subscribed"
    assert await session.scalar(select(func.count()).select_from(CheckoutSession)) == count


async def test_paying_amends_the_one_subscription_and_charges_the_net(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    setup = await mid_period(database, session, merchant[0])
    pro = await monthly_price_of_its_product(session, setup, PRO)
    checkout = await plan_change_session(session, setup, pro)

    attempt = await flow.confirm(gateway(database), checkout.secure_token, flow.Confirmation(payment_method=card()))

    assert attempt.state == "succeeded"
    payment = await session.scalar(select(Payment).where(Payment.checkout_session_id == checkout.id))
    assert payment is not None
    assert payment.amount_atom == checkout.amount_due_today_atom == 1014
    subscriptions = list(
        await session.scalars(select(Subscription).where(Subscription.customer_id == setup.customer_id))
    )
    assert [s.id for s in subscriptions] == [setup.subscription_id]
    amended = await fresh(session, setup.subscription_id)
    assert [(item.price_id, item.unit_amount_atom) for item in amended.items] == [(pro, PRO)]
    assert amended.current_period_end == START.replace(month=2, day=29)


async def test_two_changes_paid_at_once_apply_one_and_refuse_the_other_before_the_charge(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    setup = await mid_period(database, session, merchant[0])
    pro = await monthly_price_of_its_product(session, setup, PRO)
    first = await plan_change_session(session, setup, pro)
    second = await plan_change_session(session, setup, pro)

    results = await asyncio.gather(
        *(
            flow.confirm(gateway(database), c.secure_token, flow.Confirmation(payment_method=card()))
            for c in (first, second)
        ),
        return_exceptions=True,
    )

    succeeded = [r for r in results if not isinstance(r, BaseException) and r.state == "succeeded"]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(succeeded) == 1, results
    assert len(refused) == 1, results
    assert refused[0].code in {"plan_change_in_progress", "plan_change_stale"}
    payments = await session.scalar(select(func.count()).where(Payment.checkout_session_id.in_([first.id, second.id])))
    assert payments == 1
