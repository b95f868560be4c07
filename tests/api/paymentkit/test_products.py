"""``products/`` through the PaymentKit dialect, in process: wire shapes, bad input, tenancy, archiving, lists."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from payment_kit.types import PaginatedResponsePrice, PaginatedResponseProductListItem, Product, ProductListItem
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.catalog.models import Product as ProductRow
from checkstand.core.clock import FrozenClock
from checkstand.events.models import Event
from tests.conftest import bearer


@pytest.fixture
def api(merchant: tuple[str, str]) -> tuple[str, dict[str, str]]:
    account_id, secret = merchant
    return f"/api/{account_id}", bearer(secret)


async def _create(client: httpx.AsyncClient, api: tuple[str, dict[str, str]], **body: Any) -> dict[str, Any]:
    base, headers = api
    response = await client.post(f"{base}/products/", json={"name": "Pro plan", **body}, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _product_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(ProductRow)) or 0)


def _locs(response: httpx.Response) -> set[tuple[str | int, ...]]:
    assert response.status_code == 422, response.text
    return {tuple(problem["loc"]) for problem in response.json()["detail"]}


async def test_create_get_and_list_in_the_sdks_shapes(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]], merchant: tuple[str, str]
) -> None:
    base, headers = api
    created = await _create(client, api, description="Everything", metadata={"sku": "pro"})
    product = Product.model_validate(created)
    assert product.id.startswith("prod_")
    assert product.account_id == merchant[0]
    assert product.is_active is True
    assert product.metadata == {"sku": "pro"}
    assert created["deleted_at"] is None

    fetched = await client.get(f"{base}/products/{product.id}", headers=headers)
    item = ProductListItem.model_validate(fetched.json())
    assert item.total_prices == 0
    assert item.name == "Pro plan"
    assert item.created_at.tzinfo is not None

    listed = await client.get(f"{base}/products/", headers=headers)
    page = PaginatedResponseProductListItem.model_validate(listed.json())
    assert [p.id for p in page.items] == [product.id]
    assert (page.total, page.has_more) == (1, False)


async def test_total_prices_counts_the_products_prices(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]]
) -> None:
    base, headers = api
    product = await _create(client, api)
    for amount in (100, 200):
        price = {"product_id": product["id"], "currency": "usd", "unit_amount_atom": amount}
        assert (await client.post(f"{base}/prices/", json=price, headers=headers)).status_code == 201
    fetched = (await client.get(f"{base}/products/{product['id']}", headers=headers)).json()
    assert fetched["total_prices"] == 2
    listed = (await client.get(f"{base}/products/", headers=headers)).json()
    assert listed["items"][0]["total_prices"] == 2
    prices = await client.get(f"{base}/products/{product['id']}/prices", params={"limit": 1}, headers=headers)
    page = PaginatedResponsePrice.model_validate(prices.json())
    assert (len(page.items), page.total, page.has_more) == (1, 2, True)
    assert page.items[0].unit_amount_atom == 200


@pytest.mark.parametrize(
    ("body", "locs"),
    [
        ({}, {("body", "name")}),
        ({"name": "   "}, {("body", "name")}),
        ({"name": "x" * 251}, {("body", "name")}),
        ({"name": "Pro", "colour": "red"}, {("body", "colour")}),
        ({"name": "Pro", "metadata": {"tier": 3}}, {("body", "metadata", "tier")}),
        ({"name": "Pro", "metadata": {"k": "v" * 501}}, {("body", "metadata", "k")}),
        ({"name": "Pro", "metadata": {f"k{i}": "v" for i in range(51)}}, {("body", "metadata")}),
        ({"name": "Pro", "description": "d" * 1001}, {("body", "description")}),
        ({"name": "Pro", "default_price_id": "price_nope"}, {("body", "default_price_id")}),
        ({"name": "Pro", "custom_fields": {"undefined": 1}}, {("body", "custom_fields", "undefined")}),
        ({"name": "Pro", "is_active": "maybe"}, {("body", "is_active")}),
    ],
)
async def test_bad_input_is_a_422_naming_the_field_and_stores_nothing(
    client: httpx.AsyncClient,
    api: tuple[str, dict[str, str]],
    session: AsyncSession,
    body: dict[str, Any],
    locs: set[tuple[str, ...]],
) -> None:
    base, headers = api
    response = await client.post(f"{base}/products/", json=body, headers=headers)
    assert _locs(response) == locs
    assert await _product_count(session) == 0
    assert await session.scalar(select(func.count()).select_from(Event)) == 0


async def test_update_is_partial_and_announced(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]], session: AsyncSession
) -> None:
    base, headers = api
    product = await _create(client, api, description="Old", metadata={"a": "1", "b": "2"})
    response = await client.patch(
        f"{base}/products/{product['id']}",
        json={"name": "Pro plan", "description": None, "metadata": {"a": None, "c": "3"}},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    updated = Product.model_validate(response.json())
    assert (updated.name, updated.description, updated.metadata) == ("Pro plan", None, {"b": "2", "c": "3"})
    assert updated.is_active is True
    event = await session.scalar(select(Event).where(Event.type == "product.updated"))
    assert event is not None
    assert event.previous_data == {"description": "Old", "metadata": {"a": "1", "b": "2"}}


async def test_update_refuses_nulls_unknown_fields_and_changes_nothing(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]]
) -> None:
    base, headers = api
    product = await _create(client, api)
    path = f"{base}/products/{product['id']}"
    assert _locs(await client.patch(path, json={"name": None, "is_active": None}, headers=headers)) == {
        ("body", "name"),
        ("body", "is_active"),
    }
    assert _locs(await client.patch(path, json={"name": "New", "price": 5}, headers=headers)) == {("body", "price")}
    assert (await client.get(path, headers=headers)).json()["name"] == "Pro plan"


async def test_default_price_is_set_from_the_products_active_prices(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]]
) -> None:
    base, headers = api
    product = await _create(client, api)
    other = await _create(client, api, name="Other")
    own = await client.post(
        f"{base}/prices/", json={"product_id": product["id"], "currency": "usd", "unit_amount_atom": 5}, headers=headers
    )
    foreign = await client.post(
        f"{base}/prices/", json={"product_id": other["id"], "currency": "usd", "unit_amount_atom": 5}, headers=headers
    )
    path = f"{base}/products/{product['id']}"
    refused = await client.patch(path, json={"default_price_id": foreign.json()["id"]}, headers=headers)
    assert _locs(refused) == {("body", "default_price_id")}
    assert refused.json()["detail"][0]["msg"] == "must be an active price of this product"
    accepted = await client.patch(path, json={"default_price_id": own.json()["id"]}, headers=headers)
    assert accepted.json()["default_price_id"] == own.json()["id"]


async def test_delete_archives_hides_and_keeps(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]], session: AsyncSession
) -> None:
    base, headers = api
    product = await _create(client, api)
    path = f"{base}/products/{product['id']}"
    deleted = await client.delete(path, headers=headers)
    assert deleted.status_code == 204
    assert deleted.content == b""

    gone = await client.get(path, headers=headers)
    assert gone.status_code == 404
    assert gone.json()["code"] == "product_not_found"
    kept = await client.get(path, params={"include_deleted": "true"}, headers=headers)
    assert kept.status_code == 200
    assert kept.json()["is_active"] is False
    assert kept.json()["deleted_at"] is not None
    assert (await client.get(f"{base}/products/", headers=headers)).json()["total"] == 0
    listed = await client.get(f"{base}/products/", params={"include_deleted": True}, headers=headers)
    assert [p["id"] for p in listed.json()["items"]] == [product["id"]]

    changed = await client.patch(path, json={"name": "Back"}, headers=headers)
    assert changed.status_code == 409
    assert changed.json()["code"] == "product_deleted"
    assert (await client.delete(path, headers=headers)).status_code == 404
    types = (await session.scalars(select(Event.type).order_by(Event.seq))).all()
    assert types == ["product.created", "product.archived"]


async def test_a_product_with_active_prices_is_not_deleted(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]]
) -> None:
    base, headers = api
    product = await _create(client, api)
    price = {"product_id": product["id"], "currency": "usd", "unit_amount_atom": 5}
    assert (await client.post(f"{base}/prices/", json=price, headers=headers)).status_code == 201
    refused = await client.delete(f"{base}/products/{product['id']}", headers=headers)
    assert refused.status_code == 409
    assert refused.json()["code"] == "product_has_active_prices"
    assert (await client.get(f"{base}/products/{product['id']}", headers=headers)).json()["is_active"] is True


async def test_custom_fields_only_when_expanded(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]], session: AsyncSession, merchant: tuple[str, str]
) -> None:
    from checkstand.custom_fields import service as custom_fields

    base, headers = api
    await custom_fields.create_definition(
        session, merchant[0], field_key="color", entity_type="product", data_type="text", display_name="Color"
    )
    await session.commit()
    created = await _create(client, api, custom_fields={"color": "red"})
    assert created["custom_fields"] == {"color": "red"}
    path = f"{base}/products/{created['id']}"
    assert (await client.get(path, headers=headers)).json()["custom_fields"] is None
    expanded = await client.get(path, params={"expand": "custom_fields"}, headers=headers)
    assert expanded.json()["custom_fields"] == {"color": "red"}
    listed = await client.get(f"{base}/products/", params=[("expand", "custom_fields")], headers=headers)
    assert listed.json()["items"][0]["custom_fields"] == {"color": "red"}
    unknown = await client.get(path, params={"expand": "owner"}, headers=headers)
    assert _locs(unknown) == {("query", "expand")}
    wrong = await client.patch(path, json={"custom_fields": {"color": 7}}, headers=headers)
    assert _locs(wrong) == {("body", "custom_fields", "color")}


async def test_list_paginates_filters_sorts_and_searches(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]], frozen_clock: FrozenClock
) -> None:
    base, headers = api
    names = ["Basic", "Pro", "Enterprise", "Starter"]
    for name in names:
        await _create(client, api, name=name, is_active=name != "Starter", description=f"{name} tier")
        frozen_clock.advance(timedelta(seconds=1))

    async def names_of(**params: Any) -> list[str]:
        response = await client.get(f"{base}/products/", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [item["name"] for item in response.json()["items"]]

    assert await names_of() == ["Starter", "Enterprise", "Pro", "Basic"]
    second = (await client.get(f"{base}/products/", params={"limit": 2, "offset": 2}, headers=headers)).json()
    assert ([p["name"] for p in second["items"]], second["total"], second["has_more"]) == (["Pro", "Basic"], 4, False)
    first = (await client.get(f"{base}/products/", params={"limit": 2}, headers=headers)).json()
    assert first["has_more"] is True
    assert await names_of(sortBy="name", sortOrder=1) == sorted(names)
    assert await names_of(filter=json.dumps({"is_active": False})) == ["Starter"]
    assert await names_of(search="ENTER") == ["Enterprise"]
    bad_filter = await client.get(f"{base}/products/", params={"filter": '{"price": 1}'}, headers=headers)
    assert _locs(bad_filter) == {("query", "filter")}
    bad_sort = await client.get(f"{base}/products/", params={"sortBy": "secret"}, headers=headers)
    assert _locs(bad_sort) == {("query", "sortBy")}


async def test_another_accounts_products_are_404(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]], session: AsyncSession
) -> None:
    base, _ = api
    other = await accounts.create_account(session, name="Other")
    other_key = await accounts.create_api_key(session, other)
    await session.commit()
    theirs = (
        await client.post(
            f"/api/{other.id}/products/", json={"name": "Secret product"}, headers=bearer(other_key.secret)
        )
    ).json()
    _, headers = api
    for method, suffix in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("GET", "/prices")):
        response = await client.request(
            method, f"{base}/products/{theirs['id']}{suffix}", headers=headers, json={} if method == "PATCH" else None
        )
        assert response.status_code == 404, (method, suffix)
        assert "Secret product" not in response.text
    listed = (await client.get(f"{base}/products/", params={"include_deleted": True}, headers=headers)).json()
    assert listed["total"] == 0
    as_them = await client.get(f"/api/{other.id}/products/", headers=headers)
    assert as_them.status_code == 404


async def test_a_create_is_replayed_under_its_idempotency_key(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]], session: AsyncSession
) -> None:
    base, headers = api
    keyed = {**headers, "Idempotency-Key": "create-pro"}
    first = await client.post(f"{base}/products/", json={"name": "Pro"}, headers=keyed)
    second = await client.post(f"{base}/products/", json={"name": "Pro"}, headers=keyed)
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    assert await _product_count(session) == 1
