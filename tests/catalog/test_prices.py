"""Prices service: one-time and recurring terms, what may change afterwards, and what checkout may sell."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.catalog.models import Price, Product
from checkstand.core.errors import BusinessRuleViolation, Conflict, InvalidFields, NotFound
from checkstand.core.listing import ListParams
from checkstand.core.pagination import PageParams
from checkstand.db import Database
from checkstand.events.models import Event
from tests.catalog.conftest import warm_pool


@pytest.fixture
async def product(session: AsyncSession, account_id: str) -> Product:
    return await catalog.create_product(session, account_id, name="Pro plan")


async def _price_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Price)) or 0)


def _paths(error: InvalidFields) -> set[tuple[str | int, ...]]:
    return {problem.path for problem in error.problems}


async def test_one_time_price(session: AsyncSession, account_id: str, product: Product) -> None:
    price = await catalog.create_price(
        session, account_id, product_id=product.id, currency="JPY", unit_amount_atom=1200, name="Launch offer"
    )
    assert price.id.startswith("price_")
    assert price.currency == "jpy"
    assert price.pricing_type == "one_time"
    assert price.recurring_interval is None
    assert price.recurring_interval_count is None
    assert price.trial_days == 0
    assert price.is_active is True
    [event] = (await session.scalars(select(Event).where(Event.aggregate_id == price.id))).all()
    assert event.type == "price.created"
    assert event.data["unit_amount_atom"] == 1200
    assert event.data["product_id"] == product.id


async def test_an_interval_makes_a_recurring_price_of_one_period(
    session: AsyncSession, account_id: str, product: Product
) -> None:
    monthly = await catalog.create_price(
        session, account_id, product_id=product.id, currency="usd", unit_amount_atom=1999,
        recurring_interval="month", trial_days=14,
    )  # fmt: skip
    assert monthly.pricing_type == "recurring"
    assert monthly.recurring_interval_count == 1
    assert monthly.trial_days == 14
    quarterly = await catalog.create_price(
        session, account_id, product_id=product.id, currency="usd", unit_amount_atom=4999,
        pricing_type="recurring", recurring_interval="month", recurring_interval_count=3,
    )  # fmt: skip
    assert quarterly.recurring_interval_count == 3


@pytest.mark.parametrize(
    ("terms", "paths"),
    [
        ({"currency": "xyz"}, {("currency",)}),
        ({"currency": "DEM"}, {("currency",)}),
        ({"unit_amount_atom": -1}, {("unit_amount_atom",)}),
        ({"unit_amount_atom": catalog.MAX_UNIT_AMOUNT + 1}, {("unit_amount_atom",)}),
        ({"pricing_type": "recurring"}, {("recurring_interval",)}),
        ({"pricing_type": "one_time", "recurring_interval": "month"}, {("recurring_interval",)}),
        ({"recurring_interval_count": 2}, {("recurring_interval_count",)}),
        ({"trial_days": 7}, {("trial_days",)}),
        ({"recurring_interval": "month", "recurring_interval_count": 37}, {("recurring_interval_count",)}),
        ({"recurring_interval": "week", "recurring_interval_count": 157}, {("recurring_interval_count",)}),
        ({"recurring_interval": "day", "recurring_interval_count": 1096}, {("recurring_interval_count",)}),
        ({"recurring_interval": "year", "recurring_interval_count": 4}, {("recurring_interval_count",)}),
        ({"recurring_interval": "year", "recurring_interval_count": 0}, {("recurring_interval_count",)}),
        ({"recurring_interval": "fortnight"}, {("recurring_interval",)}),
        ({"recurring_interval": "year", "trial_days": 731}, {("trial_days",)}),
        ({"currency": "abc", "unit_amount_atom": -5}, {("currency",), ("unit_amount_atom",)}),
    ],
)
async def test_invalid_terms_name_the_field_and_store_nothing(
    session: AsyncSession, account_id: str, product: Product, terms: dict[str, Any], paths: set[tuple[str, ...]]
) -> None:
    fields: dict[str, Any] = {"product_id": product.id, "currency": "usd", "unit_amount_atom": 100, **terms}
    with pytest.raises(InvalidFields) as raised:
        await catalog.create_price(session, account_id, **fields)
    assert _paths(raised.value) == paths
    assert await _price_count(session) == 0


async def test_the_longest_periods_are_allowed(session: AsyncSession, account_id: str, product: Product) -> None:
    for interval, count in catalog.MAX_INTERVAL_COUNT.items():
        price = await catalog.create_price(
            session, account_id, product_id=product.id, currency="usd", unit_amount_atom=0,
            recurring_interval=interval, recurring_interval_count=count, trial_days=catalog.MAX_TRIAL_DAYS,
        )  # fmt: skip
        assert price.recurring_interval_count == count


async def test_a_price_needs_a_live_product_of_the_account(
    session: AsyncSession, account_id: str, other_account_id: str
) -> None:
    theirs = await catalog.create_product(session, other_account_id, name="Theirs")
    gone = await catalog.create_product(session, account_id, name="Gone")
    await catalog.delete_product(session, account_id, gone.id)
    for product_id, message in ((theirs.id, "no such product"), (gone.id, "the product is deleted"), ("x", None)):
        with pytest.raises(InvalidFields) as raised:
            await catalog.create_price(session, account_id, product_id=product_id, currency="usd", unit_amount_atom=1)
        [problem] = raised.value.problems
        assert problem.path == ("product_id",)
        assert message is None or problem.msg == message
    assert await _price_count(session) == 0


async def test_update_changes_only_what_a_customer_does_not_pay_for(
    session: AsyncSession, account_id: str, product: Product
) -> None:
    price = await catalog.create_price(
        session,
        account_id,
        product_id=product.id,
        currency="usd",
        unit_amount_atom=500,
        name="Old",
        metadata={"a": "1"},
    )
    await catalog.update_price(
        session, account_id, price.id, {"name": "New", "metadata": {"b": "2"}, "is_active": False}
    )
    assert (price.name, price.is_active, price.price_metadata) == ("New", False, {"a": "1", "b": "2"})
    assert (price.unit_amount_atom, price.currency) == (500, "usd")
    updated = await session.scalar(select(Event).where(Event.aggregate_id == price.id, Event.type == "price.updated"))
    assert updated is not None
    assert updated.previous_data == {"name": "Old", "is_active": True, "metadata": {"a": "1"}}


async def test_the_default_price_cannot_be_archived(session: AsyncSession, account_id: str, product: Product) -> None:
    price = await catalog.create_price(session, account_id, product_id=product.id, currency="usd", unit_amount_atom=5)
    await catalog.update_product(session, account_id, product.id, {"default_price_id": price.id})
    with pytest.raises(Conflict) as raised:
        await catalog.update_price(session, account_id, price.id, {"is_active": False})
    assert raised.value.code == "price_is_default"
    assert price.is_active is True
    await catalog.update_product(session, account_id, product.id, {"default_price_id": None})
    await catalog.update_price(session, account_id, price.id, {"is_active": False})
    assert price.is_active is False


async def test_another_accounts_price_is_not_found(
    session: AsyncSession, account_id: str, other_account_id: str
) -> None:
    theirs = await catalog.create_product(session, other_account_id, name="Theirs")
    price = await catalog.create_price(
        session, other_account_id, product_id=theirs.id, currency="usd", unit_amount_atom=1
    )
    for call in (
        catalog.get_price(session, account_id, price.id),
        catalog.get_sellable_price(session, account_id, price.id),
        catalog.update_price(session, account_id, price.id, {"is_active": False}),
    ):
        with pytest.raises(NotFound) as raised:
            await call
        assert raised.value.code == "price_not_found"
    with pytest.raises(NotFound):
        await catalog.list_product_prices(session, account_id, theirs.id, ListParams(page=PageParams()))
    assert price.is_active is True


async def test_get_sellable_price_returns_the_price_with_its_product(
    session: AsyncSession, account_id: str, product: Product
) -> None:
    price = await catalog.create_price(session, account_id, product_id=product.id, currency="usd", unit_amount_atom=7)
    await session.commit()
    session.expunge_all()
    sellable = await catalog.get_sellable_price(session, account_id, price.id)
    assert sellable.id == price.id
    assert sellable.product.name == "Pro plan"


async def test_archived_prices_and_prices_of_archived_products_are_not_sellable(
    session: AsyncSession, account_id: str, product: Product
) -> None:
    archived = await catalog.create_price(
        session, account_id, product_id=product.id, currency="usd", unit_amount_atom=1, is_active=False
    )
    live = await catalog.create_price(session, account_id, product_id=product.id, currency="usd", unit_amount_atom=2)
    with pytest.raises(BusinessRuleViolation) as raised:
        await catalog.get_sellable_price(session, account_id, archived.id)
    assert raised.value.code == "price_inactive"
    assert await catalog.get_sellable_price(session, account_id, live.id) is live

    await catalog.update_product(session, account_id, product.id, {"is_active": False})
    with pytest.raises(BusinessRuleViolation) as paused:
        await catalog.get_sellable_price(session, account_id, live.id)
    assert paused.value.code == "price_inactive"

    with pytest.raises(NotFound) as unknown:
        await catalog.get_sellable_price(session, account_id, "price_nope")
    assert unknown.value.code == "price_not_found"


async def test_a_deleted_products_prices_are_not_sellable_but_still_listed(
    session: AsyncSession, account_id: str, product: Product
) -> None:
    """Deleting needs every price archived first; even if a price is reactivated afterwards, the product's
    deletion keeps it off sale."""
    price = await catalog.create_price(
        session, account_id, product_id=product.id, currency="usd", unit_amount_atom=3, is_active=False
    )
    await catalog.delete_product(session, account_id, product.id)
    await catalog.update_price(session, account_id, price.id, {"is_active": True})
    with pytest.raises(BusinessRuleViolation) as raised:
        await catalog.get_sellable_price(session, account_id, price.id)
    assert raised.value.code == "price_inactive"
    listed = await catalog.list_product_prices(session, account_id, product.id, ListParams(page=PageParams()))
    assert [p.id for p in listed.items] == [price.id]


async def test_lists_join_the_product_for_search_and_filter(session: AsyncSession, account_id: str) -> None:
    basic = await catalog.create_product(session, account_id, name="Basic")
    pro = await catalog.create_product(session, account_id, name="Professional")
    await catalog.create_price(session, account_id, product_id=basic.id, currency="usd", unit_amount_atom=500)
    yearly = await catalog.create_price(
        session, account_id, product_id=pro.id, currency="eur", unit_amount_atom=9000, recurring_interval="year"
    )
    monthly = await catalog.create_price(
        session, account_id, product_id=pro.id, currency="eur", unit_amount_atom=900, recurring_interval="month"
    )
    found = await catalog.list_prices(session, account_id, ListParams(page=PageParams(), search="profess"))
    assert {p.id for p in found.items} == {yearly.id, monthly.id}
    assert {p.product.name for p in found.items} == {"Professional"}
    cheapest_first = await catalog.list_prices(
        session,
        account_id,
        ListParams(page=PageParams(), filters={"currency": "eur"}, sort_by="unit_amount_atom", descending=False),
    )
    assert [p.id for p in cheapest_first.items] == [monthly.id, yearly.id]
    of_basic = await catalog.list_product_prices(session, account_id, basic.id, ListParams(page=PageParams()))
    assert [p.unit_amount_atom for p in of_basic.items] == [500]


async def test_racing_price_creates_and_a_delete_leave_no_active_price_on_a_deleted_product(
    database: Database, committed_account_id: str
) -> None:
    """A delete checks there is no active price while five requests add one: whoever wins, a deleted product ends
    up with no active price, and every request either took effect or was refused."""
    account_id = committed_account_id
    async with database.writing() as setup:
        product = await catalog.create_product(setup, account_id, name="Contested")
        await setup.commit()

    async def create(amount: int) -> str:
        async with database.writing() as session:
            try:
                await catalog.create_price(
                    session, account_id, product_id=product.id, currency="usd", unit_amount_atom=amount
                )
            except InvalidFields:
                return "refused"
            await session.commit()
            return "created"

    async def delete() -> str:
        async with database.writing() as session:
            try:
                await catalog.delete_product(session, account_id, product.id)
            except Conflict:
                return "refused"
            await session.commit()
            return "deleted"

    await warm_pool(database, 6)
    outcomes = await asyncio.gather(delete(), *(create(amount) for amount in range(5)))
    async with database.reading() as check:
        stored = await catalog.get_product(check, account_id, product.id, include_deleted=True)
        active = await check.scalar(
            select(func.count()).where(Price.product_id == product.id, Price.is_active.is_(True))
        )
    assert (stored.deleted_at is not None) == (outcomes[0] == "deleted")
    assert active == outcomes[1:].count("created")
    assert not (stored.deleted_at is not None and active)


async def test_racing_default_and_archive_never_leave_an_archived_default(
    database: Database, committed_account_id: str
) -> None:
    """One request makes a price the default while another archives it: one of them must lose."""
    account_id = committed_account_id
    async with database.writing() as setup:
        product = await catalog.create_product(setup, account_id, name="Contested")
        price = await catalog.create_price(setup, account_id, product_id=product.id, currency="usd", unit_amount_atom=1)
        await setup.commit()

    async def make_default() -> bool:
        async with database.writing() as session:
            try:
                await catalog.update_product(session, account_id, product.id, {"default_price_id": price.id})
            except InvalidFields:
                return False
            await session.commit()
            return True

    async def archive() -> bool:
        async with database.writing() as session:
            try:
                await catalog.update_price(session, account_id, price.id, {"is_active": False})
            except Conflict:
                return False
            await session.commit()
            return True

    await warm_pool(database, 2)
    made_default, archived = await asyncio.gather(make_default(), archive())
    assert made_default != archived
    async with database.reading() as check:
        stored = await catalog.get_price(check, account_id, price.id)
    assert stored.is_active is not archived
    assert (stored.product.default_price_id == price.id) is made_default
