"""Amounts have documented limits, checked at the edge and in the domain, on both backends: a unit amount, a line,
a tier's total and an amount off each at most 8 digits of the currency's major unit; a quantity at most 999,999.
A session whose lines once added up past 2**63 (a 500 on either backend) is now a 422 naming the field."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog.models import Price
from checkstand.checkout.models import CheckoutSession
from checkstand.core.ids import new_id
from checkstand.core.money import max_amount_atom
from checkstand.db import Database
from tests.conftest import bearer
from tests.shop import Shop

USD_CAP = 9_999_999_999  # 99,999,999.99 USD


def locs(response: httpx.Response) -> list[list[str | int]]:
    assert response.status_code == 422, response.text
    return [problem["loc"] for problem in response.json()["detail"]]


async def price(client: httpx.AsyncClient, shop: Shop, amount: int, currency: str = "usd") -> httpx.Response:
    return await client.post(
        f"/api/{shop.account_id}/prices/",
        json={"product_id": shop.tshirt_product, "currency": currency, "unit_amount_atom": amount},
        headers=bearer(shop.secret),
    )


async def new_session(client: httpx.AsyncClient, shop: Shop, **body: Any) -> httpx.Response:
    return await client.post(
        f"/api/{shop.account_id}/checkout-sessions/",
        json={"success_url": "https://shop.test/ok", "return_url": "https://shop.test/back", **body},
        headers=bearer(shop.secret),
    )


async def sessions_stored(database: Database) -> int:
    async with database.reading() as fresh:
        return int(await fresh.scalar(select(func.count()).select_from(CheckoutSession)) or 0)


def test_the_cap_is_eight_digits_of_the_major_unit() -> None:
    assert (max_amount_atom("usd"), max_amount_atom("jpy"), max_amount_atom("kwd")) == (
        USD_CAP,
        99_999_999,
        99_999_999_999,
    )


async def test_a_unit_amount_is_capped_in_its_own_currency(client: httpx.AsyncClient, shop: Shop) -> None:
    assert (await price(client, shop, USD_CAP)).status_code == 201
    assert (await price(client, shop, 99_999_999_999, "kwd")).status_code == 201
    for amount, currency in ((USD_CAP + 1, "usd"), (100_000_000, "jpy"), (10**30, "usd"), (-1, "usd")):
        refused = await price(client, shop, amount, currency)
        assert locs(refused) == [["body", "unit_amount_atom"]], (amount, currency)
    assert "$99,999,999.99" in (await price(client, shop, USD_CAP + 1)).text


async def test_a_quantity_a_line_and_a_total_past_their_cap_are_refused_and_store_nothing(
    client: httpx.AsyncClient, database: Database, shop: Shop
) -> None:
    top = (await price(client, shop, USD_CAP)).json()["id"]
    cent = (await price(client, shop, 10_001)).json()["id"]

    too_many = await new_session(client, shop, line_items=[{"price_id": shop.tshirt, "quantity": 1_000_000}])
    line_over = await new_session(client, shop, line_items=[{"price_id": cent, "quantity": 999_999}])
    total_over = await new_session(client, shop, line_items=[{"price_id": top}, {"price_id": shop.sticker}])
    tier_over = await new_session(
        client,
        shop,
        line_items=[{"price_id": shop.tshirt}],
        cascade_line_items=[{"line_items": [{"price_id": top}, {"price_id": top}]}],
    )

    assert locs(too_many) == [["body", "line_items", 0, "quantity"]]
    assert locs(line_over) == [["body", "line_items", 0, "quantity"]]
    assert "must be at most 9999999999 ($99,999,999.99)" in line_over.text
    assert locs(total_over) == [["body", "line_items"]]
    assert locs(tier_over) == [["body", "cascade_line_items", 0, "line_items"]]
    assert await sessions_stored(database) == 0
    at_cap = await new_session(client, shop, line_items=[{"price_id": top}])
    assert at_cap.status_code == 201
    assert at_cap.json()["amount_total_atom"] == USD_CAP


async def test_prices_stored_before_the_caps_can_not_add_up_past_a_bigint(
    client: httpx.AsyncClient, database: Database, session: AsyncSession, shop: Shop
) -> None:
    """The reported case: ten lines of 10**6 at 10**12 each (past 2**63) was a 500; the edge now refuses such a
    quantity, and lines of prices stored before the caps existed are refused by the domain."""
    huge = Price(
        id=new_id("price"),
        account_id=shop.account_id,
        product_id=shop.tshirt_product,
        unit_amount_atom=10**12,
        currency="usd",
        is_active=True,
        pricing_type="one_time",
        trial_days=0,
        price_metadata={},
        custom_fields={},
    )
    session.add(huge)
    await session.commit()

    reported = await new_session(client, shop, line_items=[{"price_id": huge.id, "quantity": 10**6}] * 10)
    legal_quantities = await new_session(client, shop, line_items=[{"price_id": huge.id, "quantity": 999_999}] * 10)

    assert locs(reported) == [["body", "line_items", index, "quantity"] for index in range(10)]
    assert locs(legal_quantities) == [["body", "line_items", index, "quantity"] for index in range(10)]
    assert await sessions_stored(database) == 0


async def test_adding_a_line_past_the_cap_is_refused(client: httpx.AsyncClient, shop: Shop) -> None:
    top = (await price(client, shop, USD_CAP)).json()["id"]
    created = (await new_session(client, shop, line_items=[{"price_id": top}])).json()
    path = f"/api/{shop.account_id}/checkout-sessions/{created['id']}"

    added = await client.post(f"{path}/line-items", json={"price_id": shop.sticker}, headers=bearer(shop.secret))

    assert added.status_code == 422, added.text
    after = (await client.get(path, headers=bearer(shop.secret))).json()
    assert (len(after["line_items"]), after["amount_total_atom"]) == (1, USD_CAP)


async def test_an_amount_off_is_capped_in_its_currency(client: httpx.AsyncClient, shop: Shop) -> None:
    for amount, currency in ((USD_CAP + 1, "usd"), (100_000_000, "jpy"), (10**20, "usd")):
        body = {"discount_type": "amount_off", "amount_atom_off": amount, "currency": currency}
        refused = await client.post(f"/api/{shop.account_id}/coupons/", json=body, headers=bearer(shop.secret))

        assert locs(refused) == [["body", "amount_atom_off"]], (amount, currency)


async def test_a_promotion_codes_minimum_amount_is_capped(client: httpx.AsyncClient, shop: Shop) -> None:
    refused = await client.post(
        f"/api/{shop.account_id}/promotion-codes/",
        json={
            "coupon_id": shop.coupon_all,
            "code": "BIG",
            "restrictions": {"minimum_amount": "100000000", "minimum_amount_currency": "usd"},
        },
        headers=bearer(shop.secret),
    )

    assert locs(refused) == [["body", "restrictions", "minimum_amount"]]
