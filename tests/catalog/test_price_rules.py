"""Add-on and customer-exclusive prices: what create_price stores, list_add_on_prices finds, and checkout refuses."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.catalog.models import Price
from checkstand.checkout import service as checkout
from checkstand.core.errors import InvalidFields
from checkstand.core.listing import ListParams
from checkstand.core.pagination import PageParams
from checkstand.customers import service as customers


async def _price(session: AsyncSession, account_id: str, name: str, **rules: list[str]) -> Price:
    product = await catalog.create_product(session, account_id, name=name)
    return await catalog.create_price(
        session, account_id, product_id=product.id, currency="usd", unit_amount_atom=1000, **rules
    )


def _session(*price_ids: str, customer_id: str | None = None) -> checkout.NewCheckoutSession:
    return checkout.NewCheckoutSession(
        success_url="https://shop.example/ok",
        return_url="https://shop.example/cart",
        line_items=[checkout.LineItemSpec(price_id) for price_id in price_ids],
        customer_id=customer_id,
    )


async def test_an_add_on_is_sold_only_beside_its_base(session: AsyncSession, account_id: str) -> None:
    base = await _price(session, account_id, "Pro")
    other = await _price(session, account_id, "Basic")
    addon = await _price(session, account_id, "Extra storage", prerequisite_price_ids=[base.id])
    assert addon.prerequisite_price_ids == [base.id]

    with pytest.raises(InvalidFields) as refused:
        await checkout.create_session(session, account_id, _session(other.id, addon.id))
    [problem] = refused.value.problems
    assert problem.path == ("line_items", 1, "price_id")
    assert addon.id in problem.msg

    sold = await checkout.create_session(session, account_id, _session(base.id, addon.id))
    assert [line.price_id for line in sold.line_items] == [base.id, addon.id]

    alone = await checkout.create_session(session, account_id, _session(other.id))
    with pytest.raises(InvalidFields) as added:
        await checkout.add_line_item(session, account_id, alone.id, checkout.LineItemSpec(addon.id))
    assert [p.path for p in added.value.problems] == [("price_id",)]


async def test_add_ons_are_listed_by_their_base(session: AsyncSession, account_id: str) -> None:
    base = await _price(session, account_id, "Pro")
    other = await _price(session, account_id, "Basic")
    addon = await _price(session, account_id, "Extra storage", prerequisite_price_ids=[other.id, base.id])
    await _price(session, account_id, "Other add-on", prerequisite_price_ids=[other.id])
    params = ListParams(page=PageParams(limit=10, offset=0))
    page = await catalog.list_add_on_prices(session, account_id, base.id, params)
    assert [price.id for price in page.items] == [addon.id]
    assert page.total == 1


async def test_prerequisites_must_be_prices_of_the_account(
    session: AsyncSession, account_id: str, other_account_id: str
) -> None:
    foreign = await _price(session, other_account_id, "Theirs")
    with pytest.raises(InvalidFields) as refused:
        await _price(session, account_id, "Add-on", prerequisite_price_ids=[foreign.id])
    assert [p.path for p in refused.value.problems] == [("prerequisite_price_ids", 0)]


async def test_an_exclusive_price_refuses_other_customers(session: AsyncSession, account_id: str) -> None:
    vip = await customers.create_customer(session, account_id, email="vip@example.com")
    someone = await customers.create_customer(session, account_id, email="someone@example.com")
    price = await _price(session, account_id, "VIP deal", exclusive_customer_ids=[vip.id])
    for customer_id in (someone.id, None):
        with pytest.raises(InvalidFields) as refused:
            await checkout.create_session(session, account_id, _session(price.id, customer_id=customer_id))
        assert [p.path for p in refused.value.problems] == [("line_items", 0, "price_id")]
    sold = await checkout.create_session(session, account_id, _session(price.id, customer_id=vip.id))
    assert sold.customer_id == vip.id


async def test_exclusive_customers_must_be_of_the_account(
    session: AsyncSession, account_id: str, other_account_id: str
) -> None:
    stranger = await customers.create_customer(session, other_account_id, email="x@example.com")
    with pytest.raises(InvalidFields) as refused:
        await customers.existing_ids(session, account_id, [stranger.id], ("exclusive_customer_ids",))
    assert [p.path for p in refused.value.problems] == [("exclusive_customer_ids", 0)]
