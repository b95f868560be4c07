"""Packages: items checked against the catalog and the billing cycles, totals priced by each item's price, updates
that replace items, soft deletion, lists, and racing updates."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import packages
from checkstand.catalog import service as catalog
from checkstand.catalog.packages import ItemSpec
from checkstand.core.errors import InvalidFields, NotFound
from checkstand.core.listing import ListParams
from checkstand.core.money import max_amount_atom
from checkstand.core.pagination import PageParams
from checkstand.db import Database
from checkstand.events.models import Event
from tests.catalog.conftest import warm_pool


@dataclass(frozen=True)
class Plan:
    """A product with a monthly and an annual price."""

    product_id: str
    monthly_id: str
    annual_id: str


async def _plan(
    session: AsyncSession, account_id: str, name: str, monthly: int, annual: int, currency: str = "usd"
) -> Plan:
    product = await catalog.create_product(session, account_id, name=name)
    prices = [
        await catalog.create_price(
            session,
            account_id,
            product_id=product.id,
            currency=currency,
            unit_amount_atom=amount,
            recurring_interval=interval,
        )
        for amount, interval in ((monthly, "month"), (annual, "year"))
    ]
    return Plan(product.id, prices[0].id, prices[1].id)


def _item(plan: Plan, quantity: int = 1) -> ItemSpec:
    return ItemSpec(plan.product_id, plan.monthly_id, plan.annual_id, quantity)


def _problems(error: InvalidFields) -> dict[tuple[str | int, ...], str]:
    return {problem.path: problem.msg for problem in error.problems}


async def _events(session: AsyncSession, aggregate_id: str) -> list[Event]:
    return list(await session.scalars(select(Event).where(Event.aggregate_id == aggregate_id).order_by(Event.seq)))


async def test_a_package_keeps_its_items_in_order_and_announces_itself(session: AsyncSession, account_id: str) -> None:
    seats = await _plan(session, account_id, "Seats", 1500, 15000)
    support = await _plan(session, account_id, "Support", 4900, 49000)

    package = await packages.create_package(
        session,
        account_id,
        name="Team",
        description="Seats and support",
        allow_annual=True,
        items=[_item(support), ItemSpec(seats.product_id, seats.monthly_id, seats.annual_id, 3, "Three seats")],
        metadata={"tier": "team"},
    )

    assert package.id.startswith("pkg_")
    assert (package.allow_monthly, package.allow_annual, package.default_billing_cycle) == (True, True, "monthly")
    assert [(item.product_id, item.quantity) for item in package.items] == [
        (support.product_id, 1),
        (seats.product_id, 3),
    ]
    [event] = await _events(session, package.id)
    assert event.type == "package.created"
    assert [item["product_id"] for item in event.data["items"]] == [support.product_id, seats.product_id]
    assert event.data["metadata"] == {"tier": "team"}
    reread = await packages.get_package(session, account_id, package.id)
    assert [item.description for item in reread.items] == [None, "Three seats"]


async def test_the_total_prices_each_item_for_its_quantity_in_the_cycle_asked_for(
    session: AsyncSession, account_id: str
) -> None:
    seats = await _plan(session, account_id, "Seats", 1500, 15000)
    support = await _plan(session, account_id, "Support", 4900, 49000)
    package = await packages.create_package(
        session, account_id, name="Team", allow_annual=True, items=[_item(seats, 3), _item(support)]
    )

    monthly = await packages.package_total(session, account_id, package.id, "monthly")
    annual = await packages.package_total(session, account_id, package.id, "annual")

    assert (monthly.currency, monthly.total_amount_atom) == ("usd", 3 * 1500 + 4900)
    assert [(line.price.id, line.quantity, line.amount_atom) for line in monthly.lines] == [
        (seats.monthly_id, 3, 4500),
        (support.monthly_id, 1, 4900),
    ]
    assert annual.total_amount_atom == 3 * 15000 + 49000
    assert [line.price.id for line in annual.lines] == [seats.annual_id, support.annual_id]


async def test_a_cycle_the_package_is_not_sold_in_has_no_total(session: AsyncSession, account_id: str) -> None:
    seats = await _plan(session, account_id, "Seats", 1500, 15000)
    package = await packages.create_package(session, account_id, name="Monthly only", items=[_item(seats)])
    with pytest.raises(InvalidFields) as refused:
        await packages.package_total(session, account_id, package.id, "annual")
    assert _problems(refused.value) == {
        ("billing_cycle",): f"Package {package.id!r} is not sold annually; it is sold monthly."
    }


async def test_every_wrong_item_is_named_and_nothing_is_stored(
    session: AsyncSession, account_id: str, other_account_id: str
) -> None:
    good = await _plan(session, account_id, "Seats", 1500, 15000)
    euros = await _plan(session, account_id, "Euro seats", 1400, 14000, currency="eur")
    theirs = await _plan(session, other_account_id, "Theirs", 100, 1000)
    gone = await catalog.create_product(session, account_id, name="Gone")
    await catalog.delete_product(session, account_id, gone.id)
    archived = await _plan(session, account_id, "Archived", 100, 1000)
    await catalog.update_price(session, account_id, archived.monthly_id, {"is_active": False})
    once = await catalog.create_price(
        session, account_id, product_id=good.product_id, currency="usd", unit_amount_atom=9
    )
    quarterly = await catalog.create_price(
        session,
        account_id,
        product_id=archived.product_id,
        currency="usd",
        unit_amount_atom=9,
        recurring_interval="month",
        recurring_interval_count=3,
    )

    with pytest.raises(InvalidFields) as refused:
        await packages.create_package(
            session,
            account_id,
            name="Broken",
            allow_annual=True,
            items=[
                ItemSpec(good.product_id, good.annual_id, good.monthly_id),  # 0: cycles swapped
                ItemSpec(theirs.product_id, theirs.monthly_id, theirs.annual_id),  # 1: another account's
                ItemSpec(gone.id, None, None),  # 2: deleted, and no prices
                ItemSpec(good.product_id, once.id, good.annual_id),  # 3: twice; a one-time price
                ItemSpec(archived.product_id, archived.monthly_id, euros.annual_id, 0),  # 4
                ItemSpec(euros.product_id, euros.monthly_id, quarterly.id),  # 5: euros; another product's price
            ],
        )

    problems = _problems(refused.value)
    assert problems == {
        ("items", 0, "monthly_price_id"): "must be a price that recurs every month",
        ("items", 0, "annual_price_id"): "must be a price that recurs every year",
        ("items", 1, "product_id"): "no such product",
        ("items", 1, "monthly_price_id"): f"no price {theirs.monthly_id!r} in this account",
        ("items", 1, "annual_price_id"): f"no price {theirs.annual_id!r} in this account",
        ("items", 2, "product_id"): "the product is deleted",
        ("items", 2, "monthly_price_id"): "needed: the package is sold monthly",
        ("items", 2, "annual_price_id"): "needed: the package is sold annually",
        ("items", 3, "product_id"): "is listed twice; give one item a quantity",
        ("items", 3, "monthly_price_id"): "must be a price that recurs every month",
        ("items", 4, "quantity"): "must be from 1 to 999999",
        ("items", 4, "monthly_price_id"): f"price {archived.monthly_id!r} is archived",
        ("items", 4, "annual_price_id"): (
            f"price {euros.annual_id!r} is a price of product {euros.product_id!r}, not of this item's"
        ),
        ("items", 5, "monthly_price_id"): "price is in EUR, the package in USD: a package has one currency",
        ("items", 5, "annual_price_id"): (
            f"price {quarterly.id!r} is a price of product {archived.product_id!r}, not of this item's"
        ),
    }
    listed = await packages.list_packages(session, account_id, ListParams(page=PageParams()))
    assert listed.total == 0


@pytest.mark.parametrize(
    ("flags", "problem"),
    [
        ({"allow_monthly": False}, ("allow_monthly",)),
        ({"allow_monthly": True, "allow_annual": False, "default_billing_cycle": "annual"}, ("default_billing_cycle",)),
        ({"allow_monthly": True, "allow_annual": True}, ("items", 0, "annual_price_id")),
    ],
)
async def test_billing_cycles_are_checked(
    session: AsyncSession, account_id: str, flags: dict[str, Any], problem: tuple[str | int, ...]
) -> None:
    seats = await _plan(session, account_id, "Seats", 1500, 15000)
    with pytest.raises(InvalidFields) as refused:
        await packages.create_package(
            session, account_id, name="Odd", items=[ItemSpec(seats.product_id, seats.monthly_id)], **flags
        )
    assert list(_problems(refused.value)) == [problem]


async def test_no_items_no_package(session: AsyncSession, account_id: str) -> None:
    with pytest.raises(InvalidFields) as refused:
        await packages.create_package(session, account_id, name="Empty", items=[])
    assert _problems(refused.value) == {("items",): "at least one item is needed"}


async def test_an_item_that_would_cost_more_than_a_charge_may_is_refused(
    session: AsyncSession, account_id: str
) -> None:
    product = await catalog.create_product(session, account_id, name="Gold")
    price = await catalog.create_price(
        session,
        account_id,
        product_id=product.id,
        currency="usd",
        unit_amount_atom=max_amount_atom("usd"),
        recurring_interval="month",
    )
    with pytest.raises(InvalidFields) as refused:
        await packages.create_package(
            session, account_id, name="Heavy", items=[ItemSpec(product.id, price.id, None, 2)]
        )
    assert [(p.path, p.type) for p in refused.value.problems] == [(("items", 0, "quantity"), "amount_too_large")]


async def test_items_sent_replace_every_item_and_a_rename_keeps_them(session: AsyncSession, account_id: str) -> None:
    seats = await _plan(session, account_id, "Seats", 1500, 15000)
    support = await _plan(session, account_id, "Support", 4900, 49000)
    package = await packages.create_package(session, account_id, name="Team", items=[_item(seats, 3), _item(support)])
    first_ids = [item.id for item in package.items]

    renamed = await packages.update_package(session, account_id, package.id, {"name": "Team plan"})
    assert [item.id for item in renamed.items] == first_ids

    replaced = await packages.update_package(
        session, account_id, package.id, {"items": [_item(support, 2), _item(seats, 5)]}
    )
    assert [(item.product_id, item.quantity) for item in replaced.items] == [
        (support.product_id, 2),
        (seats.product_id, 5),
    ]
    assert not set(first_ids) & {item.id for item in replaced.items}
    reread = await packages.get_package(session, account_id, package.id)
    assert [item.quantity for item in reread.items] == [2, 5]
    _, renaming, replacing = await _events(session, package.id)
    assert (renaming.type, renaming.previous_data) == ("package.updated", {"name": "Team"})
    assert [item["quantity"] for item in replacing.previous_data["items"]] == [3, 1]


async def test_allowing_a_cycle_needs_its_price_on_every_kept_item(session: AsyncSession, account_id: str) -> None:
    seats = await _plan(session, account_id, "Seats", 1500, 15000)
    package = await packages.create_package(
        session, account_id, name="Team", items=[ItemSpec(seats.product_id, seats.monthly_id)]
    )
    with pytest.raises(InvalidFields) as refused:
        await packages.update_package(session, account_id, package.id, {"allow_annual": True})
    assert _problems(refused.value) == {
        ("allow_annual",): "every item needs a annual_price_id first (items 0 have none)"
    }

    annual = await packages.update_package(
        session, account_id, package.id, {"allow_monthly": False, "allow_annual": True, "items": [_item(seats)]}
    )
    # The only cycle left is the default, without being asked.
    assert (annual.allow_monthly, annual.allow_annual, annual.default_billing_cycle) == (False, True, "annual")
    both = await packages.update_package(session, account_id, package.id, {"allow_monthly": True})
    assert both.default_billing_cycle == "annual"
    with pytest.raises(InvalidFields) as refused:
        await packages.update_package(
            session, account_id, package.id, {"allow_annual": False, "default_billing_cycle": "annual"}
        )
    assert list(_problems(refused.value)) == [("default_billing_cycle",)]


async def test_a_deleted_package_is_history(session: AsyncSession, account_id: str) -> None:
    seats = await _plan(session, account_id, "Seats", 1500, 15000)
    package = await packages.create_package(session, account_id, name="Team", items=[_item(seats)])
    await packages.delete_package(session, account_id, package.id)

    with pytest.raises(NotFound):
        await packages.get_package(session, account_id, package.id)
    for change in (
        packages.update_package(session, account_id, package.id, {"name": "Again"}),
        packages.delete_package(session, account_id, package.id),
        packages.package_total(session, account_id, package.id, "monthly"),
        packages.get_sellable_package(session, account_id, package.id),
    ):
        with pytest.raises(NotFound):
            await change
    kept = await packages.get_package(session, account_id, package.id, include_deleted=True)
    assert (kept.is_active, kept.deleted_at is not None, len(kept.items)) == (False, True, 1)
    assert [event.type for event in await _events(session, package.id)] == ["package.created", "package.deleted"]
    page = ListParams(page=PageParams())
    assert (await packages.list_packages(session, account_id, page)).total == 0
    assert (await packages.list_packages(session, account_id, page, include_deleted=True)).total == 1


async def test_lists_filter_search_and_keep_to_the_account(
    session: AsyncSession, account_id: str, other_account_id: str
) -> None:
    seats = await _plan(session, account_id, "Seats", 1500, 15000)
    theirs = await _plan(session, other_account_id, "Seats", 1500, 15000)
    team = await packages.create_package(session, account_id, name="Team", allow_annual=True, items=[_item(seats)])
    await packages.create_package(session, account_id, name="Solo", is_active=False, items=[_item(seats)])
    other = await packages.create_package(session, other_account_id, name="Team", items=[_item(theirs)])

    def params(**criteria: Any) -> ListParams:
        return ListParams(page=PageParams(), **criteria)

    assert [p.name for p in (await packages.list_packages(session, account_id, params())).items] == ["Solo", "Team"]
    assert [p.id for p in (await packages.list_packages(session, account_id, params(search="tea"))).items] == [team.id]
    active = await packages.list_packages(session, account_id, params(filters={"is_active": True}))
    assert [p.id for p in active.items] == [team.id]
    by_name = await packages.list_packages(session, account_id, params(sort_by="name", descending=False))
    assert [p.name for p in by_name.items] == ["Solo", "Team"]
    with pytest.raises(NotFound):
        await packages.get_package(session, account_id, other.id)
    with pytest.raises(NotFound):
        await packages.update_package(session, account_id, other.id, {"name": "Mine"})


async def test_racing_updates_leave_one_of_the_item_sets_whole(database: Database, committed_account_id: str) -> None:
    account_id = committed_account_id
    async with database.writing() as setup:
        plans = [await _plan(setup, account_id, f"Product {n}", 100 * n, 1000 * n) for n in range(1, 7)]
        package = await packages.create_package(setup, account_id, name="Raced", items=[_item(plans[0])])
        await setup.commit()
    sets = [[_item(plan) for plan in plans[n : n + 2]] for n in (0, 2, 4)]

    async def replace(items: list[ItemSpec]) -> None:
        async with database.writing() as session:
            await packages.update_package(session, account_id, package.id, {"items": items})
            await session.commit()

    await warm_pool(database, len(sets))
    await asyncio.gather(*(replace(items) for items in sets))

    async with database.reading() as check:
        final = await packages.get_package(check, account_id, package.id)
        updates = [e for e in await _events(check, package.id) if e.type == "package.updated"]
    assert [item.product_id for item in final.items] in [[spec.product_id for spec in items] for items in sets]
    assert len(updates) == len(sets)
