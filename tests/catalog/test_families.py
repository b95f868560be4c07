"""Product families: tiers, ranks, membership rules, tier comparison (Hypothesis) and racing requests."""

from __future__ import annotations

import asyncio
import functools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.catalog.models import FamilyMember, Product
from checkstand.core.errors import BusinessRuleViolation, Conflict, InvalidFields, NotFound
from checkstand.core.listing import ListParams
from checkstand.core.pagination import PageParams
from checkstand.db import Database
from checkstand.events.models import Event
from tests.catalog.conftest import warm_pool


async def _products(session: AsyncSession, account_id: str, count: int) -> list[Product]:
    return [await catalog.create_product(session, account_id, name=f"Tier {i}") for i in range(count)]


def _hierarchy(family: object) -> dict[str, int]:
    members: list[FamilyMember] = family.members  # type: ignore[attr-defined]
    return {member.product_id: member.rank for member in members}


def _paths(error: InvalidFields) -> set[tuple[str | int, ...]]:
    return {problem.path for problem in error.problems}


async def test_create_with_tiers_and_record_the_event(session: AsyncSession, account_id: str) -> None:
    basic, pro = await _products(session, account_id, 2)
    family = await catalog.create_family(
        session, account_id, name="Plans", description="Our plans", hierarchy=[(pro.id, 20), (basic.id, 10)]
    )
    assert family.id.startswith("pfam_")
    assert _hierarchy(family) == {basic.id: 10, pro.id: 20}
    event = await session.scalar(select(Event).where(Event.aggregate_id == family.id))
    assert event is not None
    assert event.type == "product_family.created"
    assert event.data["hierarchy"] == {basic.id: 10, pro.id: 20}


async def test_invalid_tiers_are_located_and_nothing_is_stored(
    session: AsyncSession, account_id: str, other_account_id: str
) -> None:
    a, b, c, gone = await _products(session, account_id, 4)
    await catalog.delete_product(session, account_id, gone.id)
    [theirs] = await _products(session, other_account_id, 1)
    await catalog.create_family(session, account_id, name="Taken", hierarchy=[(c.id, 1)])
    with pytest.raises(InvalidFields) as raised:
        await catalog.create_family(
            session,
            account_id,
            name="Bad",
            hierarchy=[(a.id, 1), (a.id, 2), (b.id, 1), (theirs.id, 3), (gone.id, 4), (c.id, 5), ("prod_x", 6)],
        )
    problems = {problem.path: problem.msg for problem in raised.value.problems}
    assert problems.keys() == {
        ("hierarchy", 1, "product_id"),
        ("hierarchy", 2, "rank"),
        ("hierarchy", 3, "product_id"),
        ("hierarchy", 4, "product_id"),
        ("hierarchy", 5, "product_id"),
        ("hierarchy", 6, "product_id"),
    }
    assert problems["hierarchy", 3, "product_id"] == "no such product"
    assert problems["hierarchy", 4, "product_id"] == "the product is deleted"
    assert "already in product family" in problems["hierarchy", 5, "product_id"]
    listed = await catalog.list_families(session, account_id, ListParams(page=PageParams()))
    assert [f.name for f in listed.items] == ["Taken"]


async def test_replacing_the_hierarchy_can_swap_ranks(session: AsyncSession, account_id: str) -> None:
    """Swapped ranks would collide on the unique rank if rows were updated in place one by one."""
    a, b, c = await _products(session, account_id, 3)
    family = await catalog.create_family(session, account_id, name="Plans", hierarchy=[(a.id, 1), (b.id, 2)])
    await catalog.replace_hierarchy(session, account_id, family.id, [(a.id, 2), (b.id, 1), (c.id, 3)])
    await session.commit()
    session.expunge_all()
    reloaded = await catalog.get_family(session, account_id, family.id)
    assert _hierarchy(reloaded) == {a.id: 2, b.id: 1, c.id: 3}
    updated = await session.scalar(
        select(Event).where(Event.aggregate_id == family.id, Event.type == "product_family.updated")
    )
    assert updated is not None
    assert updated.previous_data == {"hierarchy": {a.id: 1, b.id: 2}}


async def test_a_product_left_out_of_a_new_hierarchy_may_join_another_family(
    session: AsyncSession, account_id: str
) -> None:
    a, b = await _products(session, account_id, 2)
    first = await catalog.create_family(session, account_id, name="First", hierarchy=[(a.id, 1), (b.id, 2)])
    await catalog.replace_hierarchy(session, account_id, first.id, [(b.id, 1)])
    second = await catalog.create_family(session, account_id, name="Second", hierarchy=[(a.id, 1)])
    assert _hierarchy(second) == {a.id: 1}


async def test_add_and_remove_one_product(session: AsyncSession, account_id: str) -> None:
    a, b, c = await _products(session, account_id, 3)
    family = await catalog.create_family(session, account_id, name="Plans", hierarchy=[(a.id, 1)])
    await catalog.add_to_family(session, account_id, family.id, b.id, 2)
    assert _hierarchy(family) == {a.id: 1, b.id: 2}
    with pytest.raises(InvalidFields) as taken_rank:
        await catalog.add_to_family(session, account_id, family.id, c.id, 2)
    assert _paths(taken_rank.value) == {("rank",)}
    with pytest.raises(InvalidFields) as again:
        await catalog.add_to_family(session, account_id, family.id, a.id, 5)
    assert _paths(again.value) == {("product_id",)}
    await catalog.remove_from_family(session, account_id, family.id, a.id)
    assert _hierarchy(family) == {b.id: 2}
    with pytest.raises(NotFound):
        await catalog.remove_from_family(session, account_id, family.id, a.id)


async def test_update_name_and_description(session: AsyncSession, account_id: str) -> None:
    family = await catalog.create_family(session, account_id, name="Plans")
    await catalog.update_family(session, account_id, family.id, {"description": "All tiers"})
    assert (family.name, family.description) == ("Plans", "All tiers")


async def test_delete_keeps_the_family_readable_and_frees_its_products(session: AsyncSession, account_id: str) -> None:
    a, b = await _products(session, account_id, 2)
    family = await catalog.create_family(session, account_id, name="Old", hierarchy=[(a.id, 1), (b.id, 2)])
    await catalog.delete_family(session, account_id, family.id)
    with pytest.raises(NotFound) as raised:
        await catalog.get_family(session, account_id, family.id)
    assert raised.value.code == "product_family_not_found"
    assert (await catalog.get_family(session, account_id, family.id, include_deleted=True)).deleted_at is not None
    deleted = await session.scalar(
        select(Event).where(Event.aggregate_id == family.id, Event.type == "product_family.deleted")
    )
    assert deleted is not None
    assert deleted.data["hierarchy"] == {a.id: 1, b.id: 2}
    assert deleted.data["deleted_at"] is not None
    for call in (
        catalog.update_family(session, account_id, family.id, {"name": "x"}),
        catalog.add_to_family(session, account_id, family.id, a.id, 1),
        catalog.delete_family(session, account_id, family.id),
    ):
        with pytest.raises(NotFound):
            await call
    newer = await catalog.create_family(session, account_id, name="New", hierarchy=[(a.id, 1), (b.id, 2)])
    assert _hierarchy(newer) == {a.id: 1, b.id: 2}
    visible = await catalog.list_families(session, account_id, ListParams(page=PageParams()))
    assert [f.id for f in visible.items] == [newer.id]


async def test_another_accounts_family_is_not_found(
    session: AsyncSession, account_id: str, other_account_id: str
) -> None:
    family = await catalog.create_family(session, other_account_id, name="Theirs")
    [mine] = await _products(session, account_id, 1)
    for call in (
        catalog.get_family(session, account_id, family.id),
        catalog.update_family(session, account_id, family.id, {"name": "Mine"}),
        catalog.add_to_family(session, account_id, family.id, mine.id, 1),
        catalog.replace_hierarchy(session, account_id, family.id, []),
        catalog.delete_family(session, account_id, family.id),
    ):
        with pytest.raises(NotFound):
            await call
    assert family.name == "Theirs"
    assert family.deleted_at is None


async def test_compare_tiers(session: AsyncSession, account_id: str) -> None:
    basic, pro, outsider = await _products(session, account_id, 3)
    family = await catalog.create_family(session, account_id, name="Plans", hierarchy=[(basic.id, 1), (pro.id, 5)])
    assert await catalog.compare_tiers(session, account_id, family.id, basic.id, pro.id) == 1
    assert await catalog.compare_tiers(session, account_id, family.id, pro.id, basic.id) == -1
    assert await catalog.compare_tiers(session, account_id, family.id, pro.id, pro.id) == 0
    with pytest.raises(BusinessRuleViolation) as raised:
        await catalog.compare_tiers(session, account_id, family.id, basic.id, outsider.id)
    assert raised.value.code == "product_not_in_family"
    with pytest.raises(NotFound):
        await catalog.compare_tiers(session, account_id, "pfam_nope", basic.id, pro.id)


RANKS = st.lists(st.integers(min_value=-(2**31), max_value=2**31 - 1), min_size=2, max_size=6, unique=True)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ranks=RANKS)
async def test_tier_order_is_the_total_order_of_the_ranks(
    session: AsyncSession, account_id: str, ranks: list[int]
) -> None:
    """Whatever distinct ranks the tiers get, comparing them is antisymmetric and sorting products by it sorts them
    by rank: a total order consistent with the hierarchy."""
    products = await _products(session, account_id, len(ranks))
    family = await catalog.create_family(
        session, account_id, name="Plans", hierarchy=[(p.id, r) for p, r in zip(products, ranks, strict=True)]
    )
    rank_of = {p.id: r for p, r in zip(products, ranks, strict=True)}
    results = {
        (x, y): await catalog.compare_tiers(session, account_id, family.id, x, y) for x in rank_of for y in rank_of
    }
    for (x, y), result in results.items():
        assert result == -results[y, x]
        assert (result > 0) == (rank_of[y] > rank_of[x])
    by_tier = sorted(rank_of, key=functools.cmp_to_key(lambda x, y: -results[x, y]))
    assert by_tier == sorted(rank_of, key=rank_of.__getitem__)
    await catalog.delete_family(session, account_id, family.id)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    entries=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), max_size=5),
)
async def test_a_hierarchy_is_accepted_exactly_when_products_and_ranks_are_distinct(
    session: AsyncSession, account_id: str, entries: list[tuple[int, int]]
) -> None:
    products = await _products(session, account_id, 4)
    family = await catalog.create_family(session, account_id, name="Plans")
    tiers = [(products[p].id, rank) for p, rank in entries]
    distinct = len({p for p, _ in entries}) == len(entries) == len({r for _, r in entries})
    if distinct:
        await catalog.replace_hierarchy(session, account_id, family.id, tiers)
        assert _hierarchy(family) == dict(tiers)
    else:
        with pytest.raises(InvalidFields):
            await catalog.replace_hierarchy(session, account_id, family.id, tiers)
        assert _hierarchy(family) == {}
    await catalog.delete_family(session, account_id, family.id)


async def test_racing_requests_put_a_product_in_one_family_only(database: Database, committed_account_id: str) -> None:
    """Eight sessions add the same product to eight families at once: one wins; the others are told the product is
    taken (or, where they checked before the winner committed, get a conflict). The product is in one family."""
    account_id = committed_account_id
    async with database.writing() as setup:
        [product] = await _products(setup, account_id, 1)
        families = [await catalog.create_family(setup, account_id, name=f"F{i}") for i in range(8)]
        await setup.commit()

    async def add(family_id: str) -> str:
        async with database.writing() as session:
            try:
                await catalog.add_to_family(session, account_id, family_id, product.id, 1)
            except (InvalidFields, Conflict) as refused:
                await session.rollback()
                return type(refused).__name__
            await session.commit()
            return "added"

    await warm_pool(database, len(families))
    outcomes = await asyncio.gather(*(add(family.id) for family in families))
    assert outcomes.count("added") == 1
    async with database.reading() as check:
        homes = (await check.scalars(select(FamilyMember.family_id).where(FamilyMember.product_id == product.id))).all()
    assert len(homes) == 1
    assert homes[0] == families[outcomes.index("added")].id


async def test_racing_requests_give_a_rank_to_one_product_only(database: Database, committed_account_id: str) -> None:
    account_id = committed_account_id
    async with database.writing() as setup:
        products = await _products(setup, account_id, 6)
        family = await catalog.create_family(setup, account_id, name="Plans")
        await setup.commit()

    async def add(product_id: str) -> bool:
        async with database.writing() as session:
            try:
                await catalog.add_to_family(session, account_id, family.id, product_id, 7)
            except (InvalidFields, Conflict):
                await session.rollback()
                return False
            await session.commit()
            return True

    await warm_pool(database, len(products))
    outcomes = await asyncio.gather(*(add(p.id) for p in products))
    assert outcomes.count(True) == 1
    async with database.reading() as check:
        reloaded = await catalog.get_family(check, account_id, family.id)
    assert list(_hierarchy(reloaded).values()) == [7]
