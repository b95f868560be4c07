"""An account's upgrade paths govern a change through the API as they govern one through a checkout: once any path is
declared, an items change (prorated now, or scheduled for the period's end) to a price no path allows is refused
before anything is written or charged, and an allowed one applies."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import upgrade_paths
from checkstand.core.errors import BusinessRuleViolation
from checkstand.db import Database
from checkstand.invoices.models import Invoice
from checkstand.payments import plan_changes
from checkstand.subscriptions import changes
from tests.invoices.factory import Billing, fresh, monthly_price_of_its_product
from tests.payments.flow import gateway
from tests.payments.plan_change_setup import mid_period


async def _to(session: AsyncSession, setup: Billing, price_id: str) -> list[changes.ItemChange]:
    subscription = await fresh(session, setup.subscription_id)
    return [changes.ItemChange(id=subscription.items[0].id, price_id=price_id)]


async def _prices_held(session: AsyncSession, setup: Billing) -> list[str]:
    return [item.price_id for item in (await fresh(session, setup.subscription_id)).items]


async def test_an_items_change_no_declared_path_allows_is_refused_and_an_allowed_one_applies(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    account_id = merchant[0]
    setup = await mid_period(database, session, account_id)
    held = await _prices_held(session, setup)
    pro, lite = (
        await monthly_price_of_its_product(session, setup, 3000),
        await monthly_price_of_its_product(session, setup, 300),
    )
    await upgrade_paths.create_upgrade_path(
        session, account_id, source_price_id=held[0], target_price_id=pro, transition_type="upgrade"
    )
    await session.commit()
    invoices_before = await session.scalar(select(func.count()).select_from(Invoice))
    to_lite, to_pro = await _to(session, setup, lite), await _to(session, setup, pro)
    # The API's change runs in transactions of its own (on SQLite this one would hold the write lock).
    await session.commit()

    with pytest.raises(BusinessRuleViolation) as refused_now:
        await plan_changes.change_items(
            gateway(database),
            account_id,
            setup.subscription_id,
            to_lite,
            proration_behavior=plan_changes.CREATE_PRORATIONS,
            proration_date=None,
        )
    with pytest.raises(BusinessRuleViolation) as refused_later:
        await plan_changes.schedule_items(session, account_id, setup.subscription_id, to_lite)
    await session.rollback()

    assert refused_now.value.code == refused_later.value.code == "transition_not_allowed"
    assert await _prices_held(session, setup) == held
    assert (await fresh(session, setup.subscription_id)).scheduled_change is None
    assert await session.scalar(select(func.count()).select_from(Invoice)) == invoices_before
    await session.commit()

    await plan_changes.change_items(
        gateway(database),
        account_id,
        setup.subscription_id,
        to_pro,
        proration_behavior=plan_changes.CREATE_PRORATIONS,
        proration_date=None,
    )
    assert await _prices_held(session, setup) == [pro]
