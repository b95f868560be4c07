"""Upgrade paths: declaring them, and how a plan change is classified with and without declared paths."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.catalog import upgrade_paths
from checkstand.catalog.models import Price, UpgradePath
from checkstand.core.errors import BusinessRuleViolation, Conflict, InvalidFields, NotFound
from checkstand.core.listing import ListParams
from checkstand.core.pagination import PageParams
from checkstand.events.models import Event


async def _plan(
    session: AsyncSession, account_id: str, name: str, amount: int, interval: str = "month", currency: str = "usd"
) -> Price:
    product = await catalog.create_product(session, account_id, name=name)
    return await catalog.create_price(
        session,
        account_id,
        product_id=product.id,
        currency=currency,
        unit_amount_atom=amount,
        recurring_interval=interval,
    )


async def _price(session: AsyncSession, account_id: str, product_id: str, amount: int, interval: str) -> Price:
    return await catalog.create_price(
        session, account_id, product_id=product_id, currency="usd", unit_amount_atom=amount, recurring_interval=interval
    )


async def test_crud_records_events_with_the_snapshot(session: AsyncSession, account_id: str) -> None:
    basic = await _plan(session, account_id, "Basic", 1000)
    pro = await _plan(session, account_id, "Pro", 3000)
    path = await upgrade_paths.create_upgrade_path(
        session,
        account_id,
        source_product_id=basic.product_id,
        target_price_id=pro.id,
        transition_type="upgrade",
        description="Go pro",
    )
    assert path.id.startswith("upath_")
    # A price end records its product too.
    assert (path.target_product_id, path.target_price_id, path.source_price_id) == (pro.product_id, pro.id, None)
    assert path.is_active

    lateral = await upgrade_paths.create_upgrade_path(
        session,
        account_id,
        source_product_id=pro.product_id,
        target_product_id=basic.product_id,
        transition_type="lateral",
    )
    assert lateral.transition_type == "crossgrade"

    updated = await upgrade_paths.update_upgrade_path(
        session, account_id, path.id, {"description": "Better", "is_active": False}
    )
    assert (updated.description, updated.is_active) == ("Better", False)
    page = await upgrade_paths.list_upgrade_paths(session, account_id, ListParams(PageParams(limit=10, offset=0)))
    assert [p.id for p in page.items] == [lateral.id, path.id]
    only = await upgrade_paths.list_upgrade_paths(
        session, account_id, ListParams(PageParams(limit=10, offset=0)), transition_type="upgrade"
    )
    assert [p.id for p in only.items] == [path.id]

    await upgrade_paths.delete_upgrade_path(session, account_id, path.id)
    with pytest.raises(NotFound):
        await upgrade_paths.get_upgrade_path(session, account_id, path.id)
    gone = await upgrade_paths.get_upgrade_path(session, account_id, path.id, include_deleted=True)
    assert gone.deleted_at is not None
    assert gone.is_active is False
    remaining = await upgrade_paths.list_upgrade_paths(session, account_id, ListParams(PageParams(limit=10, offset=0)))
    assert [p.id for p in remaining.items] == [lateral.id]

    events = (
        await session.scalars(select(Event).where(Event.aggregate_id == path.id).order_by(Event.created_at, Event.id))
    ).all()
    assert [e.type for e in events] == ["upgrade_path.created", "upgrade_path.updated", "upgrade_path.deleted"]
    assert events[0].data["target_price_id"] == pro.id
    assert events[2].data["deleted_at"] is not None


async def test_bad_ends_are_located_and_nothing_is_stored(
    session: AsyncSession, account_id: str, other_account_id: str
) -> None:
    basic = await _plan(session, account_id, "Basic", 1000)
    pro = await _plan(session, account_id, "Pro", 3000)
    theirs = await _plan(session, other_account_id, "Theirs", 500)
    with pytest.raises(InvalidFields) as raised:
        await upgrade_paths.create_upgrade_path(
            session,
            account_id,
            source_product_id=basic.product_id,
            source_price_id=pro.id,
            target_price_id=theirs.id,
            transition_type="upgrade",
        )
    assert {p.path: p.msg for p in raised.value.problems} == {
        ("source_price_id",): f"is not a price of product {basic.product_id}",
        ("target_price_id",): "no such price",
    }
    with pytest.raises(InvalidFields) as missing:
        await upgrade_paths.create_upgrade_path(session, account_id, source_product_id=basic.product_id)
    assert [p.path for p in missing.value.problems] == [("target_product_id",)]
    with pytest.raises(InvalidFields) as same:
        await upgrade_paths.create_upgrade_path(
            session, account_id, source_price_id=basic.id, target_price_id=basic.id, transition_type="upgrade"
        )
    assert [p.msg for p in same.value.problems] == ["must differ from the source"]
    with pytest.raises(InvalidFields) as kind:
        await upgrade_paths.create_upgrade_path(
            session, account_id, source_price_id=basic.id, target_price_id=pro.id, transition_type="sideways"
        )
    assert [p.path for p in kind.value.problems] == [("transition_type",)]
    assert await session.scalar(select(func.count()).select_from(UpgradePath)) == 0


async def test_a_duplicate_is_refused_and_another_account_sees_nothing(
    session: AsyncSession, account_id: str, other_account_id: str
) -> None:
    basic = await _plan(session, account_id, "Basic", 1000)
    pro = await _plan(session, account_id, "Pro", 3000)
    ends = {"source_product_id": basic.product_id, "target_product_id": pro.product_id}
    path = await upgrade_paths.create_upgrade_path(session, account_id, **ends, transition_type="upgrade")
    with pytest.raises(Conflict) as raised:
        await upgrade_paths.create_upgrade_path(session, account_id, **ends, transition_type="crossgrade")
    assert raised.value.code == "upgrade_path_exists"
    # The same product ends, made precise by a price, are another path.
    await upgrade_paths.create_upgrade_path(
        session,
        account_id,
        source_price_id=basic.id,
        target_product_id=pro.product_id,
        transition_type="upgrade",
    )
    with pytest.raises(NotFound):
        await upgrade_paths.get_upgrade_path(session, other_account_id, path.id)
    with pytest.raises(NotFound):
        await upgrade_paths.update_upgrade_path(session, other_account_id, path.id, {"description": "x"})
    with pytest.raises(NotFound):
        await upgrade_paths.delete_upgrade_path(session, other_account_id, path.id)
    with pytest.raises(NotFound):
        await upgrade_paths.list_transitions_from_product(session, other_account_id, basic.product_id)
    # Deleting frees the ends for a new declaration.
    await upgrade_paths.delete_upgrade_path(session, account_id, path.id)
    await upgrade_paths.create_upgrade_path(session, account_id, **ends, transition_type="downgrade")


async def test_transitions_from_a_product_and_from_a_price(session: AsyncSession, account_id: str) -> None:
    basic = await _plan(session, account_id, "Basic", 1000)
    pro = await _plan(session, account_id, "Pro", 3000)
    team = await _plan(session, account_id, "Team", 9000)
    from_product = await upgrade_paths.create_upgrade_path(
        session,
        account_id,
        source_product_id=basic.product_id,
        target_product_id=pro.product_id,
        transition_type="upgrade",
    )
    from_price = await upgrade_paths.create_upgrade_path(
        session, account_id, source_price_id=basic.id, target_price_id=team.id, transition_type="upgrade"
    )
    inactive = await upgrade_paths.create_upgrade_path(
        session,
        account_id,
        source_product_id=basic.product_id,
        target_product_id=team.product_id,
        transition_type="upgrade",
        is_active=False,
    )
    await upgrade_paths.create_upgrade_path(
        session,
        account_id,
        source_product_id=pro.product_id,
        target_product_id=basic.product_id,
        transition_type="downgrade",
    )
    product_paths = await upgrade_paths.list_transitions_from_product(session, account_id, basic.product_id)
    assert [p.id for p in product_paths] == [from_product.id]
    assert inactive.id not in [p.id for p in product_paths]
    price, price_paths = await upgrade_paths.list_transitions_from_price(session, account_id, basic.id)
    assert price.id == basic.id
    assert [p.id for p in price_paths] == [from_price.id, from_product.id]
    assert (
        await upgrade_paths.list_transitions_from_product(
            session, account_id, basic.product_id, transition_type="downgrade"
        )
        == []
    )


async def test_without_paths_family_ranks_and_amounts_per_day_decide(session: AsyncSession, account_id: str) -> None:
    basic = await _plan(session, account_id, "Basic", 1000)
    pro = await _plan(session, account_id, "Pro", 3000)
    other = await _plan(session, account_id, "Other", 100)
    euro = await _plan(session, account_id, "Euro", 3000, currency="eur")
    await catalog.create_family(
        session, account_id, name="Plans", hierarchy=[(basic.product_id, 1), (pro.product_id, 2)]
    )
    yearly = await _price(session, account_id, basic.product_id, 10000, "year")  # less per day than 1000 a month
    weekly = await _price(session, account_id, basic.product_id, 300, "week")  # more per day than 1000 a month

    async def classify(a: Price, b: Price) -> str:
        return await upgrade_paths.classify_transition(session, account_id, from_price_id=a.id, to_price_id=b.id)

    # The cheaper price of a higher tier is still an upgrade: ranks decide before amounts.
    cheap_pro = await _price(session, account_id, pro.product_id, 10, "month")
    assert await classify(basic, cheap_pro) == "upgrade"
    assert await classify(pro, basic) == "downgrade"
    assert await classify(basic, yearly) == "downgrade"
    assert await classify(basic, weekly) == "upgrade"
    assert await classify(basic, other) == "crossgrade"
    with pytest.raises(BusinessRuleViolation) as currency:
        await classify(pro, euro)
    assert currency.value.code == "transition_not_allowed"
    assert "one currency" in currency.value.detail
    with pytest.raises(Conflict) as same:
        await classify(basic, basic)
    assert same.value.code == "already_subscribed"
    one_time = await catalog.create_price(
        session, account_id, product_id=pro.product_id, currency="usd", unit_amount_atom=5000
    )
    verdict = await upgrade_paths.validate_transition(
        session, account_id, source_price_id=basic.id, target_price_id=one_time.id
    )
    assert (verdict.allowed, verdict.transition_type) == (False, None)
    assert verdict.reason is not None
    assert "does not recur" in verdict.reason


async def test_declared_paths_alone_decide_and_a_price_path_wins(session: AsyncSession, account_id: str) -> None:
    basic = await _plan(session, account_id, "Basic", 1000)
    pro = await _plan(session, account_id, "Pro", 3000)
    other = await _plan(session, account_id, "Other", 100)
    await catalog.create_family(
        session, account_id, name="Plans", hierarchy=[(basic.product_id, 1), (pro.product_id, 2)]
    )
    pro_yearly = await _price(session, account_id, pro.product_id, 30000, "year")
    by_product = await upgrade_paths.create_upgrade_path(
        session,
        account_id,
        source_product_id=basic.product_id,
        target_product_id=pro.product_id,
        transition_type="upgrade",
    )
    by_price = await upgrade_paths.create_upgrade_path(
        session, account_id, source_price_id=basic.id, target_price_id=pro_yearly.id, transition_type="crossgrade"
    )

    verdict = await upgrade_paths.validate_transition(
        session, account_id, source_price_id=basic.id, target_price_id=pro.id
    )
    assert (verdict.allowed, verdict.transition_type, verdict.path_id) == (True, "upgrade", by_product.id)
    verdict = await upgrade_paths.validate_transition(
        session, account_id, source_price_id=basic.id, target_price_id=pro_yearly.id
    )
    assert (verdict.allowed, verdict.transition_type, verdict.path_id) == (True, "crossgrade", by_price.id)
    assert (
        await upgrade_paths.classify_transition(session, account_id, from_price_id=basic.id, to_price_id=pro_yearly.id)
        == "crossgrade"
    )
    # Ranks would allow a downgrade and fall back to a crossgrade; no declared path does, so neither is allowed.
    for source, target in ((pro, basic), (basic, other)):
        verdict = await upgrade_paths.validate_transition(
            session, account_id, source_price_id=source.id, target_price_id=target.id
        )
        assert verdict.allowed is False
        assert verdict.path_id is None
        with pytest.raises(BusinessRuleViolation) as refused:
            await upgrade_paths.classify_transition(session, account_id, from_price_id=source.id, to_price_id=target.id)
        assert refused.value.code == "transition_not_allowed"
    # An inactive path decides nothing: with none active, the ranks are back.
    for path in (by_product, by_price):
        await upgrade_paths.update_upgrade_path(session, account_id, path.id, {"is_active": False})
    assert (
        await upgrade_paths.classify_transition(session, account_id, from_price_id=pro.id, to_price_id=basic.id)
        == "downgrade"
    )


async def test_the_type_left_out_is_inferred(session: AsyncSession, account_id: str) -> None:
    basic = await _plan(session, account_id, "Basic", 1000)
    pro = await _plan(session, account_id, "Pro", 3000)
    await catalog.create_family(
        session, account_id, name="Plans", hierarchy=[(basic.product_id, 1), (pro.product_id, 2)]
    )
    path = await upgrade_paths.create_upgrade_path(
        session, account_id, source_product_id=pro.product_id, target_product_id=basic.product_id
    )
    assert path.transition_type == "downgrade"
