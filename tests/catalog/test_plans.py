"""Plans (Paid's view of prices): terms that never change, the default plan, external ids, and the upgrade path
order that plan changes are classified by."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import plans, upgrade_paths
from checkstand.catalog import service as catalog
from checkstand.catalog.models import Price
from checkstand.catalog.plans import PriceTerms, UpgradeGroup
from checkstand.core.errors import Conflict, InvalidFields

MONTHLY = PriceTerms(currency="usd", unit_amount_atom=1000, recurring_interval="month", recurring_interval_count=1)


def monthly(amount: int) -> PriceTerms:
    return PriceTerms(currency="usd", unit_amount_atom=amount, recurring_interval="month")


async def test_terms_are_what_a_price_charges_and_nothing_else(session: AsyncSession, account_id: str) -> None:
    product = await catalog.create_product(session, account_id, name="Seats")
    plan = await plans.create_plan(session, account_id, product_id=product.id, terms=MONTHLY)
    assert MONTHLY.charged_by(plan)
    assert monthly(1000).charged_by(plan)  # a count of 1 said or not
    assert not monthly(1001).charged_by(plan)
    assert not PriceTerms(currency="eur", unit_amount_atom=1000, recurring_interval="month").charged_by(plan)
    assert not PriceTerms(currency="usd", unit_amount_atom=1000).charged_by(plan)
    package = await catalog.create_price(
        session, account_id, product_id=product.id, currency="usd", unit_amount_atom=1000, quantity_divisor=10
    )
    assert not PriceTerms(currency="usd", unit_amount_atom=1000).charged_by(package)

    with pytest.raises(InvalidFields) as changed:
        await plans.update_plan(session, account_id, plan.id, {"terms": monthly(2000), "name": "Dearer"})
    assert [problem.path for problem in changed.value.problems] == [("pricing",)]
    same = await plans.update_plan(session, account_id, plan.id, {"terms": MONTHLY, "name": "Seat"})
    assert (same.name, same.unit_amount_atom) == ("Seat", 1000)


async def test_the_default_plan_follows_is_default_and_status(session: AsyncSession, account_id: str) -> None:
    product = await catalog.create_product(session, account_id, name="Seats")
    first = await plans.create_plan(session, account_id, product_id=product.id, terms=MONTHLY, is_default=True)
    second = await plans.create_plan(session, account_id, product_id=product.id, terms=monthly(2000))
    assert product.default_price_id == first.id
    with pytest.raises(Conflict):
        await plans.update_plan(session, account_id, first.id, {"is_active": False})
    await plans.update_plan(session, account_id, first.id, {"is_active": False, "is_default": False})
    assert (product.default_price_id, first.is_active) == (None, False)
    # Restored and made the default at once: restored first, so it may be the default.
    await plans.update_plan(session, account_id, first.id, {"is_active": True, "is_default": True})
    assert product.default_price_id == first.id
    await plans.update_plan(session, account_id, second.id, {"is_default": True})
    assert product.default_price_id == second.id


async def test_external_ids_are_unique_in_an_account(
    session: AsyncSession, account_id: str, other_account_id: str
) -> None:
    mine = await catalog.create_product(session, account_id, name="Mine", external_id="shared")
    theirs = await catalog.create_product(session, other_account_id, name="Theirs", external_id="shared")
    assert mine.id != theirs.id
    with pytest.raises(Conflict) as taken:
        await catalog.create_product(session, account_id, name="Copy", external_id="shared")
    assert taken.value.code == "product_external_id_taken"
    plan = await plans.create_plan(session, account_id, product_id=mine.id, terms=MONTHLY, external_id="p-1")
    assert (await plans.get_plan(session, account_id, external_id="p-1")).id == plan.id
    other = await plans.create_plan(session, account_id, product_id=mine.id, terms=monthly(5))
    with pytest.raises(Conflict) as moved:
        await plans.update_plan(session, account_id, other.id, {"external_id": "p-1"})
    assert moved.value.code == "price_external_id_taken"


async def _ranked(session: AsyncSession, account_id: str) -> tuple[Price, Price, Price, Price]:
    product = await catalog.create_product(session, account_id, name="Support")
    low, mid, high = [
        await plans.create_plan(session, account_id, product_id=product.id, terms=monthly(amount))
        for amount in (3000, 2000, 1000)
    ]
    yearly = await plans.create_plan(
        session,
        account_id,
        product_id=product.id,
        terms=PriceTerms(currency="usd", unit_amount_atom=100, recurring_interval="year"),
    )
    await plans.order_upgrade_path(
        session,
        account_id,
        product.id,
        [UpgradeGroup([low.id, mid.id, high.id], "monthly"), UpgradeGroup([yearly.id], "annual")],
    )
    return low, mid, high, yearly


async def test_the_upgrade_path_order_classifies_plan_changes(session: AsyncSession, account_id: str) -> None:
    low, mid, high, yearly = await _ranked(session, account_id)
    assert [price.upgrade_path_order for price in (low, mid, high, yearly)] == [1, 2, 3, 1]

    async def classify(source: Price, target: Price) -> str:
        return await upgrade_paths.classify_transition(
            session, account_id, from_price_id=source.id, to_price_id=target.id
        )

    # The order wins over the amounts (the higher plan is the cheaper one here).
    assert await classify(low, high) == "upgrade"
    assert await classify(high, mid) == "downgrade"
    # Places are counted per billing frequency: across two, the amounts per day decide.
    assert await classify(high, yearly) == "downgrade"
    assert await classify(yearly, low) == "upgrade"

    await plans.order_upgrade_path(session, account_id, low.product_id, [UpgradeGroup([high.id, low.id])])
    assert (mid.upgrade_path_order, yearly.upgrade_path_order) == (None, None)
    assert await classify(low, mid) == "downgrade"  # unranked: 3000 a month to 2000


async def test_an_upgrade_path_is_refused_whole(session: AsyncSession, account_id: str) -> None:
    low, mid, high, yearly = await _ranked(session, account_id)
    elsewhere = await plans.create_plan(
        session, account_id, product_id=(await catalog.create_product(session, account_id, name="x")).id, terms=MONTHLY
    )
    with pytest.raises(InvalidFields) as refused:
        await plans.order_upgrade_path(
            session,
            account_id,
            low.product_id,
            [UpgradeGroup([high.id, elsewhere.id, high.id]), UpgradeGroup([yearly.id, mid.id], "annual")],
        )
    assert [problem.path for problem in refused.value.problems] == [
        ("groups", 0, "plan_ids", 1),
        ("groups", 0, "plan_ids", 2),
        ("groups", 1, "plan_ids", 1),
    ]
    with pytest.raises(InvalidFields) as twice:
        await plans.order_upgrade_path(
            session, account_id, low.product_id, [UpgradeGroup([low.id]), UpgradeGroup([mid.id], "monthly")]
        )
    assert [problem.path for problem in twice.value.problems] == [("groups", 1, "frequency")]
    assert [price.upgrade_path_order for price in (low, mid, high, yearly)] == [1, 2, 3, 1]
