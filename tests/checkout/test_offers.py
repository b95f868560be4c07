"""Paid's checkouts in the checkout service, on both backends: what an offer sells and refuses, the customer's picks
of plan and currency, reusable links and their visits, archiving, the status filter and the contact details."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.checkout import contact_details, lifecycle, offer_choices, offers
from checkstand.checkout import service as checkout_service
from checkstand.checkout.models import EXPIRED, OPEN, SUCCESS, CheckoutSession
from checkstand.core.errors import Conflict, InvalidFields
from checkstand.core.pagination import PageParams
from checkstand.events.models import Event
from tests.shop import Shop


def offer(*products: offers.ProductPick, **terms: object) -> offers.NewOffer:
    values: dict[str, object] = {"products": products, "success_url": "https://shop.test/ok?c={CHECKOUT_ID}", **terms}
    return offers.NewOffer(**values)  # type: ignore[arg-type]


def plans(product_id: str, *price_ids: str) -> offers.ProductPick:
    return offers.ProductPick(product_id, [offers.PlanPick(price_id) for price_id in price_ids])


async def plan_product(session: AsyncSession, shop: Shop) -> str:
    monthly = await catalog.get_price(session, shop.account_id, shop.monthly)
    return monthly.product_id


async def refused_paths(session: AsyncSession, shop: Shop, spec: offers.NewOffer) -> set[tuple[str | int, ...]]:
    before = await session.scalar(select(func.count()).select_from(CheckoutSession))
    with pytest.raises(InvalidFields) as refused:
        await offers.create_offer(session, shop.account_id, spec)
    assert await session.scalar(select(func.count()).select_from(CheckoutSession)) == before
    return {problem.path for problem in refused.value.problems}


def sold(checkout: CheckoutSession) -> list[str]:
    return [line.price_id for line in checkout_service.tier_items(checkout, 0)]


async def test_products_whose_first_plans_bill_at_other_intervals_are_refused_at_products(
    session: AsyncSession, shop: Shop
) -> None:
    support = await catalog.create_product(session, shop.account_id, name="Support")
    yearly = await catalog.create_price(
        session, shop.account_id, product_id=support.id, currency="usd", unit_amount_atom=100, recurring_interval="year"
    )
    product_id = await plan_product(session, shop)

    paths = await refused_paths(session, shop, offer(plans(product_id, shop.monthly), plans(support.id, yearly.id)))

    assert paths == {("products",)}


async def test_a_plan_reserved_to_other_customers_or_an_add_on_is_no_plan(session: AsyncSession, shop: Shop) -> None:
    product_id = await plan_product(session, shop)
    reserved = await catalog.create_price(
        session,
        shop.account_id,
        product_id=product_id,
        currency="usd",
        unit_amount_atom=500,
        recurring_interval="month",
        exclusive_customer_ids=["cus_someone_else"],
    )
    add_on = await catalog.create_price(
        session,
        shop.account_id,
        product_id=product_id,
        currency="usd",
        unit_amount_atom=300,
        recurring_interval="month",
        prerequisite_price_ids=[shop.monthly],
    )

    paths = await refused_paths(session, shop, offer(plans(product_id, shop.monthly, reserved.id, add_on.id)))

    assert paths == {("products", 0, "plans", 1, "id"), ("products", 0, "plans", 2, "id")}


async def test_the_customer_picks_among_the_plans_offered_and_nothing_else(session: AsyncSession, shop: Shop) -> None:
    product_id = await plan_product(session, shop)
    checkout = await offers.create_offer(session, shop.account_id, offer(plans(product_id, shop.monthly, shop.yearly)))
    [choice] = await offer_choices.offer_choices(session, checkout)
    assert [(option.index, option.price.id, option.selected) for option in choice.options] == [
        (0, shop.monthly, True),
        (1, shop.yearly, False),
    ]

    assert await offer_choices.choose(session, checkout, {0: 1}) is True
    assert sold(checkout) == [shop.yearly]
    assert checkout.amount_total_atom == 9000
    assert await offer_choices.choose(session, checkout, {0: 1}) is False
    for picks, path in [({0: 2}, ("plans", 0)), ({1: 0}, ("plans", 1))]:
        with pytest.raises(InvalidFields) as refused:
            await offer_choices.choose(session, checkout, picks)
        assert [problem.path for problem in refused.value.problems] == [path]
    with pytest.raises(InvalidFields) as refused:
        await offer_choices.choose(session, checkout, {}, "eur")
    assert [problem.path for problem in refused.value.problems] == [("currency",)]
    assert sold(checkout) == [shop.yearly]


async def test_another_currency_sells_each_products_first_plan_in_it(session: AsyncSession, shop: Shop) -> None:
    checkout = await offers.create_offer(
        session, shop.account_id, offer(plans(shop.tshirt_product, shop.tshirt, shop.euro))
    )
    assert checkout.allowed_currencies == ["usd", "eur"]
    assert offer_choices.currency_choices(checkout) == ["usd", "eur"]
    # One plan per currency: nothing to pick within one.
    assert await offer_choices.offer_choices(session, checkout) == []

    assert await offer_choices.choose(session, checkout, {}, "EUR") is True

    assert (checkout.currency, sold(checkout), checkout.amount_total_atom) == ("eur", [shop.euro], 1500)


async def test_a_plan_archived_after_the_offer_is_no_longer_offered(session: AsyncSession, shop: Shop) -> None:
    product_id = await plan_product(session, shop)
    checkout = await offers.create_offer(session, shop.account_id, offer(plans(product_id, shop.monthly, shop.yearly)))
    await catalog.update_price(session, shop.account_id, shop.yearly, {"is_active": False})

    assert await offer_choices.offer_choices(session, checkout) == []
    with pytest.raises(InvalidFields):
        await offer_choices.choose(session, checkout, {0: 1})


async def test_a_reusable_link_is_never_paid_and_each_visit_is_a_single_use_session_made_from_it(
    session: AsyncSession, shop: Shop
) -> None:
    bare = offer(offers.ProductPick(shop.tshirt_product, None), single_use=False)
    # Without plans named, a product offers all its active plans, its default first.
    await catalog.update_product(session, shop.account_id, shop.tshirt_product, {"default_price_id": shop.tshirt})
    link = await offers.create_offer(session, shop.account_id, bare)
    assert link.offered_products[0]["price_ids"][0] == shop.tshirt
    await session.commit()
    with pytest.raises(Conflict) as refused:
        await checkout_service.lock_open_session(session, link.secure_token)
    assert refused.value.code == "checkout_reusable"

    visits = [await offer_choices.open_visit(session, link) for _ in range(2)]

    assert [(visit.made_from_id, visit.single_use, sold(visit)) for visit in visits] == [
        (link.id, True, [shop.tshirt]),
        (link.id, True, [shop.tshirt]),
    ]
    assert visits[0].secure_token != visits[1].secure_token
    await offers.archive(session, shop.account_id, link.id)
    with pytest.raises(Conflict):
        await offer_choices.open_visit(session, link)
    with pytest.raises(Conflict):
        await offer_choices.open_visit(session, visits[0])


async def test_archiving_closes_an_open_checkout_keeps_a_completed_one_and_the_list_filters_by_status(
    session: AsyncSession, shop: Shop
) -> None:
    free_product = (await catalog.get_price(session, shop.account_id, shop.free)).product_id

    async def made() -> CheckoutSession:
        return await offers.create_offer(session, shop.account_id, offer(plans(free_product, shop.free)))

    archived, completed, active = await made(), await made(), await made()
    await lifecycle.complete_without_payment(session, shop.account_id, completed.id)
    for checkout in (archived, archived, completed):
        await offers.archive(session, shop.account_id, checkout.id)

    assert [offers.status(checkout) for checkout in (archived, completed, active)] == [offers.ARCHIVED, SUCCESS, OPEN]
    assert archived.status == EXPIRED
    expired_events = await session.scalar(
        select(func.count()).where(Event.aggregate_id == archived.id, Event.type == "checkout_session.expired")
    )
    assert expired_events == 1

    async def listed(wanted: str | None) -> Sequence[str]:
        page = await offers.list_checkouts(session, shop.account_id, wanted, PageParams())
        return [checkout.id for checkout in page.items]

    assert await listed(OPEN) == [active.id]
    assert await listed(SUCCESS) == [completed.id]
    assert await listed(offers.ARCHIVED) == [archived.id]
    assert await listed(EXPIRED) == []
    assert set(await listed(None)) == {archived.id, completed.id, active.id}


async def test_contact_details_are_checked_only_when_asked_for_and_kept_tidy(session: AsyncSession, shop: Shop) -> None:
    checkout = await offers.create_offer(
        session, shop.account_id, offer(plans(shop.tshirt_product, shop.tshirt), collect_phone=True)
    )
    address = {"line1": " 1 Main St ", "city": "Springfield", "zip_code": "", "country": "us"}

    assert contact_details.contact_problems(checkout, " +1 (555) 010-9999 ", address) == []
    assert [p.path for p in contact_details.contact_problems(checkout, "call me", {"line1": "x" * 201})] == [
        ("customer", "phone"),
        ("customer", "address", "line1"),
        ("customer", "address", "city"),
        ("customer", "address", "country"),
    ]
    contact_details.take_contact(checkout, " +1 (555) 010-9999 ", address)
    assert checkout.customer_phone == "+1 (555) 010-9999"
    assert checkout.customer_address == {
        "line1": "1 Main St",
        "line2": None,
        "line3": None,
        "city": "Springfield",
        "state": None,
        "zip_code": None,
        "country": "US",
    }
    plain = await offers.create_offer(
        session, shop.account_id, offer(plans(shop.tshirt_product, shop.tshirt), collect_address=False)
    )
    assert contact_details.contact_problems(plain, None, None) == []
