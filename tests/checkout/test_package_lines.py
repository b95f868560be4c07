"""A package as a new session's line: expanded into the package's prices for a billing cycle, in every tier, with
any problem of those prices named at the line the merchant sent."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import packages
from checkstand.catalog import service as catalog
from checkstand.catalog.packages import ItemSpec
from checkstand.checkout import service as checkout_service
from checkstand.checkout.models import CheckoutSession
from checkstand.checkout.packages import PackageLineSpec
from checkstand.core.errors import InvalidFields
from tests.shop import Shop

Line = checkout_service.LineItemSpec | PackageLineSpec


async def _seats_and_support(session: AsyncSession, shop: Shop) -> tuple[str, list[str]]:
    """A package sold monthly and annually: 3 seats (12.00 USD a month, 120.00 a year) and support (49.00, 490.00).
    Its id, and its prices: seats monthly, seats annual, support monthly, support annual."""
    prices = []
    items = []
    for name, monthly, quantity, description in (("Seats", 1200, 3, "Three seats"), ("Support", 4900, 1, None)):
        product = await catalog.create_product(session, shop.account_id, name=name)
        pair = [
            await catalog.create_price(
                session,
                shop.account_id,
                product_id=product.id,
                currency="usd",
                unit_amount_atom=amount,
                recurring_interval=interval,
            )
            for amount, interval in ((monthly, "month"), (monthly * 10, "year"))
        ]
        prices += [price.id for price in pair]
        items.append(ItemSpec(product.id, pair[0].id, pair[1].id, quantity, description))
    package = await packages.create_package(session, shop.account_id, name="Team", allow_annual=True, items=items)
    return package.id, prices


def _spec(lines: list[Line], cascade: list[list[Line]] | None = None) -> checkout_service.NewCheckoutSession:
    return checkout_service.NewCheckoutSession(
        success_url="https://shop.example/ok",
        return_url="https://shop.example/cart",
        line_items=lines,
        cascade_tiers=[checkout_service.TierSpec(tier) for tier in cascade or []],
    )


async def _refused(session: AsyncSession, shop: Shop, spec: checkout_service.NewCheckoutSession) -> InvalidFields:
    with pytest.raises(InvalidFields) as refused:
        await checkout_service.create_session(session, shop.account_id, spec)
    assert await session.scalar(select(func.count()).select_from(CheckoutSession)) == 0
    return refused.value


def _paths(error: InvalidFields) -> dict[tuple[str | int, ...], str]:
    return {problem.path: problem.type for problem in error.problems}


async def test_a_package_line_sells_each_item_at_its_cycle_s_price(session: AsyncSession, shop: Shop) -> None:
    package_id, (seats_monthly, seats_annual, support_monthly, support_annual) = await _seats_and_support(session, shop)

    checkout = await checkout_service.create_session(
        session,
        shop.account_id,
        _spec(
            [
                checkout_service.LineItemSpec(shop.yearly),
                PackageLineSpec(package_id, "annual", quantity=2, description="Team, twice"),
            ],
            cascade=[[PackageLineSpec(package_id, "annual")]],
        ),
    )

    primary = checkout_service.tier_items(checkout, 0)
    assert [(line.price_id, line.quantity, line.description, line.package_id) for line in primary] == [
        (shop.yearly, 1, None, None),
        (seats_annual, 6, "Team, twice", package_id),
        (support_annual, 2, "Team, twice", package_id),
    ]
    assert checkout.amount_total_atom == 9000 + 6 * 12000 + 2 * 49000
    fallback = checkout_service.tier_items(checkout, 1)
    assert [(line.price_id, line.quantity, line.description) for line in fallback] == [
        (seats_annual, 3, "Three seats"),
        (support_annual, 1, None),
    ]
    assert checkout.tier_amounts == [checkout.amount_total_atom, 3 * 12000 + 49000]
    assert {seats_monthly, support_monthly}.isdisjoint(line.price_id for line in checkout.line_items)


async def test_without_a_cycle_the_package_s_default_is_sold(session: AsyncSession, shop: Shop) -> None:
    package_id, (seats_monthly, _, support_monthly, _) = await _seats_and_support(session, shop)
    checkout = await checkout_service.create_session(session, shop.account_id, _spec([PackageLineSpec(package_id)]))
    assert [line.price_id for line in checkout.line_items] == [seats_monthly, support_monthly]


async def test_a_package_that_can_t_be_sold_is_named_with_the_session_s_other_problems(
    session: AsyncSession, shop: Shop
) -> None:
    package_id, _ = await _seats_and_support(session, shop)
    await packages.update_package(session, shop.account_id, package_id, {"allow_annual": False})
    paused, _ = await _seats_and_support(session, shop)
    await packages.update_package(session, shop.account_id, paused, {"is_active": False})
    spec = checkout_service.NewCheckoutSession(
        success_url="javascript:alert(1)",
        return_url="https://shop.example/cart",
        line_items=[PackageLineSpec(package_id, "annual"), PackageLineSpec("pkg_nope")],
        cascade_tiers=[
            checkout_service.TierSpec([checkout_service.LineItemSpec(shop.tshirt), PackageLineSpec(paused)])
        ],
    )

    refused = await _refused(session, shop, spec)

    problems = _paths(refused)
    assert problems.pop(("success_url",))
    assert problems == {
        ("line_items", 0, "billing_cycle"): "billing_cycle_not_allowed",
        ("line_items", 1, "package_id"): "not_found",
        ("cascade_tiers", 0, "line_items", 1, "package_id"): "package_inactive",
    }


async def test_a_problem_of_a_package_s_price_is_named_at_the_package_line(session: AsyncSession, shop: Shop) -> None:
    package_id, (seats_monthly, _, _, _) = await _seats_and_support(session, shop)

    # The session's other line is in euros: both prices of the package are refused, told once at the package line.
    mixed = await _refused(
        session, shop, _spec([checkout_service.LineItemSpec(shop.euro), PackageLineSpec(package_id)])
    )
    assert _paths(mixed) == {("line_items", 1, "package_id"): "currency_mismatch"}
    assert len(mixed.problems) == 1
    # A line after a package line is named where the merchant put it, not where the package pushed it.
    after = await _refused(
        session, shop, _spec([PackageLineSpec(package_id), checkout_service.LineItemSpec(shop.archived)])
    )
    assert _paths(after) == {("line_items", 1, "price_id"): "price_inactive"}
    # Items' quantities times the line's: over a line's largest quantity, at the line's quantity.
    heavy = await _refused(session, shop, _spec([PackageLineSpec(package_id, quantity=400_000)]))
    assert _paths(heavy) == {("line_items", 0, "quantity"): "less_than_equal"}
    # A monthly package beside a yearly price: two intervals in one session, said of the whole tier.
    intervals = await _refused(
        session, shop, _spec([checkout_service.LineItemSpec(shop.yearly), PackageLineSpec(package_id)])
    )
    assert _paths(intervals) == {("line_items",): "interval_mismatch"}
    await catalog.update_price(session, shop.account_id, seats_monthly, {"is_active": False})
    archived = await _refused(
        session, shop, _spec([checkout_service.LineItemSpec(shop.tshirt), PackageLineSpec(package_id)])
    )
    assert _paths(archived) == {("line_items", 1, "package_id"): "price_inactive"}
    assert seats_monthly in archived.problems[0].msg
