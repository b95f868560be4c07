"""Products service: creation, partial updates, the default price, archiving, custom fields and events."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.core import metadata
from checkstand.core.clock import FrozenClock
from checkstand.core.errors import Conflict, InvalidFields, NotFound
from checkstand.core.listing import ListParams
from checkstand.core.pagination import PageParams
from checkstand.custom_fields import service as custom_fields
from checkstand.events.models import Event


async def _events(session: AsyncSession, aggregate_id: str) -> list[Event]:
    query = select(Event).where(Event.aggregate_id == aggregate_id).order_by(Event.seq)
    return list((await session.scalars(query)).all())


def _paths(error: InvalidFields) -> set[tuple[str | int, ...]]:
    return {problem.path for problem in error.problems}


async def test_create_records_the_product_and_its_event(session: AsyncSession, account_id: str) -> None:
    product = await catalog.create_product(
        session, account_id, name="Pro plan", description="Everything", metadata={"sku": "pro-1"}
    )
    assert product.id.startswith("prod_")
    assert product.is_active is True
    assert product.deleted_at is None
    assert product.product_metadata == {"sku": "pro-1"}
    assert await catalog.get_product(session, account_id, product.id) is product
    [event] = await _events(session, product.id)
    assert event.type == "product.created"
    assert event.aggregate_type == "product"
    assert event.data["name"] == "Pro plan"
    assert event.data["metadata"] == {"sku": "pro-1"}
    assert event.previous_data is None


async def test_another_accounts_product_is_not_found(
    session: AsyncSession, account_id: str, other_account_id: str
) -> None:
    theirs = await catalog.create_product(session, other_account_id, name="Theirs")
    with pytest.raises(NotFound) as raised:
        await catalog.get_product(session, account_id, theirs.id)
    assert raised.value.code == "product_not_found"
    with pytest.raises(NotFound):
        await catalog.update_product(session, account_id, theirs.id, {"name": "Mine now"})
    with pytest.raises(NotFound):
        await catalog.delete_product(session, account_id, theirs.id)
    page = await catalog.list_products(session, account_id, ListParams(page=PageParams()))
    assert page.total == 0
    assert theirs.name == "Theirs"


async def test_update_changes_only_what_is_sent_and_says_what_changed(
    session: AsyncSession, account_id: str, frozen_clock: FrozenClock
) -> None:
    product = await catalog.create_product(
        session, account_id, name="Pro", description="Old", metadata={"a": "1", "b": "2"}
    )
    created_at = product.updated_at
    frozen_clock.advance(timedelta(minutes=1))
    await catalog.update_product(
        session, account_id, product.id, {"description": None, "metadata": {"a": None, "b": "", "c": "3"}}
    )
    assert product.name == "Pro"
    assert product.description is None
    assert product.product_metadata == {"c": "3"}
    assert product.updated_at > created_at
    _, updated = await _events(session, product.id)
    assert updated.type == "product.updated"
    assert updated.previous_data == {"description": "Old", "metadata": {"a": "1", "b": "2"}}


async def test_an_update_that_changes_nothing_records_no_event(session: AsyncSession, account_id: str) -> None:
    product = await catalog.create_product(session, account_id, name="Pro")
    await catalog.update_product(session, account_id, product.id, {"name": "Pro", "metadata": {}})
    assert [e.type for e in await _events(session, product.id)] == ["product.created"]


async def test_metadata_null_clears_it_and_the_key_limit_holds(session: AsyncSession, account_id: str) -> None:
    product = await catalog.create_product(session, account_id, name="Pro", metadata={"a": "1"})
    await catalog.update_product(session, account_id, product.id, {"metadata": None})
    assert product.product_metadata == {}
    too_many = {f"k{i}": "v" for i in range(metadata.MAX_KEYS)}
    await catalog.update_product(session, account_id, product.id, {"metadata": too_many})
    with pytest.raises(InvalidFields) as raised:
        await catalog.update_product(session, account_id, product.id, {"metadata": {"one_more": "v"}})
    assert _paths(raised.value) == {("metadata",)}
    assert len(product.product_metadata) == metadata.MAX_KEYS


@given(
    current=st.dictionaries(st.sampled_from("abcdef"), st.text(min_size=1, max_size=3)),
    changes=st.dictionaries(st.sampled_from("abcdef"), st.none() | st.just("") | st.text(min_size=1, max_size=3)),
)
def test_metadata_merge_sets_removes_and_keeps(current: dict[str, str], changes: dict[str, str | None]) -> None:
    merged = metadata.merge_metadata(current, changes)
    for key in "abcdef":
        expected = (changes[key] or None) if key in changes else current.get(key)
        assert merged.get(key) == expected


async def test_default_price_must_be_an_active_price_of_this_product(session: AsyncSession, account_id: str) -> None:
    product = await catalog.create_product(session, account_id, name="Pro")
    other = await catalog.create_product(session, account_id, name="Other")
    own = await catalog.create_price(session, account_id, product_id=product.id, currency="usd", unit_amount_atom=900)
    foreign = await catalog.create_price(session, account_id, product_id=other.id, currency="usd", unit_amount_atom=1)
    archived = await catalog.create_price(
        session, account_id, product_id=product.id, currency="usd", unit_amount_atom=2, is_active=False
    )
    for refused in (foreign.id, archived.id, "price_unknown"):
        with pytest.raises(InvalidFields) as raised:
            await catalog.update_product(session, account_id, product.id, {"default_price_id": refused})
        assert _paths(raised.value) == {("default_price_id",)}
        assert product.default_price_id is None
    await catalog.update_product(session, account_id, product.id, {"default_price_id": own.id})
    assert product.default_price_id == own.id
    await catalog.update_product(session, account_id, product.id, {"default_price_id": None})
    assert product.default_price_id is None


async def test_a_new_product_cannot_name_a_default_price(session: AsyncSession, account_id: str) -> None:
    other = await catalog.create_product(session, account_id, name="Other")
    price = await catalog.create_price(session, account_id, product_id=other.id, currency="usd", unit_amount_atom=1)
    with pytest.raises(InvalidFields) as raised:
        await catalog.create_product(session, account_id, name="New", default_price_id=price.id)
    assert _paths(raised.value) == {("default_price_id",)}
    page = await catalog.list_products(session, account_id, ListParams(page=PageParams()))
    assert [p.name for p in page.items] == ["Other"]


async def test_delete_archives_and_hides_but_keeps_the_product(
    session: AsyncSession, account_id: str, frozen_clock: FrozenClock
) -> None:
    product = await catalog.create_product(session, account_id, name="Old plan")
    frozen_clock.advance(timedelta(seconds=1))
    kept = await catalog.create_product(session, account_id, name="Current plan")
    await catalog.delete_product(session, account_id, product.id)

    assert product.is_active is False
    assert product.deleted_at == frozen_clock.now()
    with pytest.raises(NotFound):
        await catalog.get_product(session, account_id, product.id)
    assert await catalog.get_product(session, account_id, product.id, include_deleted=True) is product
    listed = await catalog.list_products(session, account_id, ListParams(page=PageParams()))
    assert [p.id for p in listed.items] == [kept.id]
    everything = await catalog.list_products(session, account_id, ListParams(page=PageParams()), include_deleted=True)
    assert [p.id for p in everything.items] == [kept.id, product.id]

    archived = (await _events(session, product.id))[-1]
    assert archived.type == "product.archived"
    assert archived.data["is_active"] is False
    assert archived.previous_data == {"is_active": True, "deleted_at": None}

    with pytest.raises(Conflict) as raised:
        await catalog.update_product(session, account_id, product.id, {"name": "Revived"})
    assert raised.value.code == "product_deleted"
    with pytest.raises(NotFound):
        await catalog.delete_product(session, account_id, product.id)


async def test_a_product_with_active_prices_cannot_be_deleted(session: AsyncSession, account_id: str) -> None:
    product = await catalog.create_product(session, account_id, name="Pro")
    price = await catalog.create_price(session, account_id, product_id=product.id, currency="eur", unit_amount_atom=5)
    with pytest.raises(Conflict) as raised:
        await catalog.delete_product(session, account_id, product.id)
    assert raised.value.code == "product_has_active_prices"
    assert product.deleted_at is None
    assert product.is_active is True
    await catalog.update_price(session, account_id, price.id, {"is_active": False})
    await catalog.delete_product(session, account_id, product.id)
    assert product.deleted_at is not None


async def test_count_prices_counts_archived_prices_and_zero(session: AsyncSession, account_id: str) -> None:
    product = await catalog.create_product(session, account_id, name="Pro")
    empty = await catalog.create_product(session, account_id, name="Empty")
    for amount, active in ((1, True), (2, False)):
        await catalog.create_price(
            session, account_id, product_id=product.id, currency="usd", unit_amount_atom=amount, is_active=active
        )
    assert await catalog.count_prices(session, account_id, [product.id, empty.id]) == {product.id: 2, empty.id: 0}


async def test_custom_fields_are_checked_against_the_definitions(session: AsyncSession, account_id: str) -> None:
    await custom_fields.create_definition(
        session, account_id, field_key="tier", entity_type="product", data_type="select",
        display_name="Tier", constraints={"options": ["gold", "silver"]},
    )  # fmt: skip
    product = await catalog.create_product(session, account_id, name="Pro", custom_fields={"tier": "gold"})
    assert product.custom_fields == {"tier": "gold"}
    with pytest.raises(InvalidFields) as raised:
        await catalog.create_product(session, account_id, name="Bad", custom_fields={"tier": "bronze", "nope": 1})
    assert _paths(raised.value) == {("custom_fields", "tier"), ("custom_fields", "nope")}
    with pytest.raises(InvalidFields):
        await catalog.update_product(session, account_id, product.id, {"custom_fields": {"tier": "bronze"}})
    assert product.custom_fields == {"tier": "gold"}
    await catalog.update_product(session, account_id, product.id, {"custom_fields": {"tier": None}})
    assert product.custom_fields == {}
    updated = (await _events(session, product.id))[-1]
    assert updated.previous_data == {"custom_fields": {"tier": "gold"}}


async def test_deleting_a_definition_removes_its_values_from_products(session: AsyncSession, account_id: str) -> None:
    definition = await custom_fields.create_definition(
        session, account_id, field_key="color", entity_type="product", data_type="text", display_name="Color"
    )
    product = await catalog.create_product(session, account_id, name="Pro", custom_fields={"color": "red"})
    assert await custom_fields.delete_definition(session, account_id, definition.id, "color") == 1
    assert product.custom_fields == {}


async def test_list_filters_searches_and_sorts(
    session: AsyncSession, account_id: str, frozen_clock: FrozenClock
) -> None:
    names = ["Basic", "Pro", "Enterprise"]
    for name in names:
        await catalog.create_product(session, account_id, name=name, description=f"The {name.lower()} tier")
        frozen_clock.advance(timedelta(seconds=1))
    page = PageParams(limit=2)
    newest = await catalog.list_products(session, account_id, ListParams(page=page))
    assert [p.name for p in newest.items] == ["Enterprise", "Pro"]
    assert newest.total == 3
    assert newest.has_more
    by_name = await catalog.list_products(
        session, account_id, ListParams(page=PageParams(), sort_by="name", descending=False)
    )
    assert [p.name for p in by_name.items] == sorted(names)
    searched = await catalog.list_products(session, account_id, ListParams(page=PageParams(), search="PRO TIER"))
    assert [p.name for p in searched.items] == ["Pro"]
    filtered = await catalog.list_products(
        session, account_id, ListParams(page=PageParams(), filters={"name": "Basic"})
    )
    assert [p.name for p in filtered.items] == ["Basic"]
    with pytest.raises(InvalidFields) as raised:
        await catalog.list_products(session, account_id, ListParams(page=PageParams(), filters={"secret": 1}))
    assert _paths(raised.value) == {("filter",)}
