"""``product-families/`` through the PaymentKit dialect, in process: tiers on the wire, errors located, tenancy."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from payment_kit.types import PaginatedResponseProductFamily, ProductFamily
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.events.models import Event
from tests.conftest import bearer


@pytest.fixture
def api(merchant: tuple[str, str]) -> tuple[str, dict[str, str]]:
    account_id, secret = merchant
    return f"/api/{account_id}", bearer(secret)


@pytest.fixture
async def products(client: httpx.AsyncClient, api: tuple[str, dict[str, str]]) -> list[str]:
    base, headers = api
    made = [await client.post(f"{base}/products/", json={"name": n}, headers=headers) for n in ("S", "M", "L")]
    return [str(response.json()["id"]) for response in made]


def _locs(response: httpx.Response) -> set[tuple[str | int, ...]]:
    assert response.status_code == 422, response.text
    return {tuple(problem["loc"]) for problem in response.json()["detail"]}


async def _create(client: httpx.AsyncClient, api: tuple[str, dict[str, str]], **body: Any) -> ProductFamily:
    base, headers = api
    response = await client.post(f"{base}/product-families/", json={"name": "Plans", **body}, headers=headers)
    assert response.status_code == 201, response.text
    return ProductFamily.model_validate(response.json())


async def test_tiers_on_the_wire_lowest_first(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]], products: list[str]
) -> None:
    base, headers = api
    small, medium, large = products
    family = await _create(
        client,
        api,
        description="Sizes",
        hierarchy=[
            {"product_id": large, "rank": 3},
            {"product_id": small, "rank": 1},
            {"product_id": medium, "rank": 2},
        ],
    )
    assert family.id.startswith("pfam_")
    assert family.hierarchy == {small: 1, medium: 2, large: 3}
    assert family.deleted_at is None
    fetched = await client.get(f"{base}/product-families/{family.id}", headers=headers)
    assert list(fetched.json()["hierarchy"]) == [small, medium, large]

    replaced = await client.put(
        f"{base}/product-families/{family.id}/hierarchy",
        json={"hierarchy": [{"product_id": small, "rank": 3}, {"product_id": large, "rank": 1}]},
        headers=headers,
    )
    assert replaced.status_code == 200, replaced.text
    assert list(replaced.json()["hierarchy"].items()) == [(large, 1), (small, 3)]

    added = await client.post(
        f"{base}/product-families/{family.id}/products", json={"product_id": medium, "rank": 2}, headers=headers
    )
    assert ProductFamily.model_validate(added.json()).hierarchy == {large: 1, medium: 2, small: 3}
    removed = await client.delete(f"{base}/product-families/{family.id}/products/{large}", headers=headers)
    assert ProductFamily.model_validate(removed.json()).hierarchy == {medium: 2, small: 3}


@pytest.mark.parametrize(
    ("hierarchy", "locs"),
    [
        ([{"product_id": 0, "rank": 1}, {"product_id": 0, "rank": 2}], {("body", "hierarchy", 1, "product_id")}),
        ([{"product_id": 0, "rank": 1}, {"product_id": 1, "rank": 1}], {("body", "hierarchy", 1, "rank")}),
        ([{"product_id": "prod_nope", "rank": 1}], {("body", "hierarchy", 0, "product_id")}),
        ([{"product_id": 0, "rank": "high"}], {("body", "hierarchy", 0, "rank")}),
        ([{"product_id": 0, "rank": 2**31}], {("body", "hierarchy", 0, "rank")}),
        ([{"product_id": 0}], {("body", "hierarchy", 0, "rank")}),
        ([{"product_id": 0, "rank": 1, "tier": "gold"}], {("body", "hierarchy", 0, "tier")}),
    ],
)
async def test_bad_hierarchies_name_the_entry_and_store_nothing(
    client: httpx.AsyncClient,
    api: tuple[str, dict[str, str]],
    products: list[str],
    hierarchy: list[dict[str, Any]],
    locs: set[tuple[str | int, ...]],
) -> None:
    base, headers = api
    entries = [
        {**e, "product_id": products[e["product_id"]]} if isinstance(e["product_id"], int) else e for e in hierarchy
    ]
    response = await client.post(
        f"{base}/product-families/", json={"name": "Plans", "hierarchy": entries}, headers=headers
    )
    assert _locs(response) == locs
    assert (await client.get(f"{base}/product-families/", headers=headers)).json()["total"] == 0


async def test_a_product_belongs_to_one_family(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]], products: list[str]
) -> None:
    base, headers = api
    small, medium, _ = products
    first = await _create(client, api, hierarchy=[{"product_id": small, "rank": 1}])
    second = await _create(client, api, name="Other")
    taken = await client.post(
        f"{base}/product-families/{second.id}/products", json={"product_id": small, "rank": 1}, headers=headers
    )
    assert _locs(taken) == {("body", "product_id")}
    assert first.id in taken.json()["detail"][0]["msg"]
    rank_taken = await client.post(
        f"{base}/product-families/{first.id}/products", json={"product_id": medium, "rank": 1}, headers=headers
    )
    assert _locs(rank_taken) == {("body", "rank")}
    not_member = await client.delete(f"{base}/product-families/{first.id}/products/{medium}", headers=headers)
    assert not_member.status_code == 404


async def test_update_delete_and_include_deleted(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]], products: list[str], session: AsyncSession
) -> None:
    base, headers = api
    family = await _create(client, api, hierarchy=[{"product_id": products[0], "rank": 1}])
    path = f"{base}/product-families/{family.id}"
    assert _locs(await client.patch(path, json={"name": None}, headers=headers)) == {("body", "name")}
    assert _locs(await client.patch(path, json={"hierarchy": []}, headers=headers)) == {("body", "hierarchy")}
    renamed = await client.patch(path, json={"name": "Tiers", "description": "S to L"}, headers=headers)
    assert (renamed.json()["name"], renamed.json()["description"]) == ("Tiers", "S to L")

    assert (await client.delete(path, headers=headers)).status_code == 204
    assert (await client.get(path, headers=headers)).status_code == 404
    kept = ProductFamily.model_validate(
        (await client.get(path, params={"include_deleted": True}, headers=headers)).json()
    )
    assert kept.deleted_at is not None
    listed = await client.get(f"{base}/product-families/", params={"include_deleted": True}, headers=headers)
    assert [f.id for f in PaginatedResponseProductFamily.model_validate(listed.json()).items] == [family.id]
    assert (await client.get(f"{base}/product-families/", headers=headers)).json()["total"] == 0
    assert (await client.patch(path, json={"name": "Again"}, headers=headers)).status_code == 404
    types = (await session.scalars(select(Event.type).where(Event.aggregate_id == family.id).order_by(Event.seq))).all()
    assert types == ["product_family.created", "product_family.updated", "product_family.deleted"]


async def test_list_paginates_and_searches(client: httpx.AsyncClient, api: tuple[str, dict[str, str]]) -> None:
    base, headers = api
    for name in ("Alpha", "Beta", "Gamma"):
        await _create(client, api, name=name, description=f"{name} line")
    page = await client.get(
        f"{base}/product-families/", params={"limit": 2, "sortBy": "name", "sortOrder": 1}, headers=headers
    )
    parsed = PaginatedResponseProductFamily.model_validate(page.json())
    assert ([f.name for f in parsed.items], parsed.total, parsed.has_more) == (["Alpha", "Beta"], 3, True)
    searched = await client.get(f"{base}/product-families/", params={"search": "gam"}, headers=headers)
    assert [f["name"] for f in searched.json()["items"]] == ["Gamma"]


async def test_another_accounts_family_and_products_are_out_of_reach(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]], products: list[str], session: AsyncSession
) -> None:
    base, headers = api
    other = await accounts.create_account(session, name="Other")
    other_key = await accounts.create_api_key(session, other)
    await session.commit()
    theirs = bearer(other_key.secret)
    their_product = (await client.post(f"/api/{other.id}/products/", json={"name": "T"}, headers=theirs)).json()["id"]
    their_family = (await client.post(f"/api/{other.id}/product-families/", json={"name": "F"}, headers=theirs)).json()
    path = f"{base}/product-families/{their_family['id']}"
    for response in (
        await client.get(path, headers=headers),
        await client.patch(path, json={"name": "Mine"}, headers=headers),
        await client.delete(path, headers=headers),
        await client.put(f"{path}/hierarchy", json={"hierarchy": []}, headers=headers),
        await client.post(f"{path}/products", json={"product_id": products[0], "rank": 1}, headers=headers),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "product_family_not_found"
    mine = await _create(client, api)
    borrowed = await client.post(
        f"{base}/product-families/{mine.id}/products", json={"product_id": their_product, "rank": 1}, headers=headers
    )
    assert _locs(borrowed) == {("body", "product_id")}
    assert borrowed.json()["detail"][0]["msg"] == "no such product"
