"""``customers/`` in the PaymentKit dialect, in process, on both backends."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.core.clock import FrozenClock
from tests.conftest import bearer


@pytest.fixture
def api(merchant: tuple[str, str]) -> tuple[str, dict[str, str]]:
    """The customers path of the merchant's account and its auth header."""
    account_id, secret = merchant
    return f"/api/{account_id}/customers", bearer(secret)


async def create(client: httpx.AsyncClient, api: tuple[str, dict[str, str]], **body: Any) -> dict[str, Any]:
    path, headers = api
    response = await client.post(f"{path}/", json={"email": "ada@example.com", **body}, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def total(client: httpx.AsyncClient, api: tuple[str, dict[str, str]]) -> int:
    path, headers = api
    count: int = (await client.get(f"{path}/", headers=headers)).json()["total"]
    return count


async def test_create_answers_the_sdk_customer_shape(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]]
) -> None:
    customer = await create(
        client,
        api,
        email="Ada@Example.com",
        first_name="Ada",
        last_name="Lovelace",
        phone="+44 20 7946 0000",
        address={"line1": "12 St James's Square", "city": "London", "country": "gb"},
        currency="GBP",
        language="en-GB",
        tax_ids=["GB123456789"],
        metadata={"crm": "42"},
        note_id="note_1",
        invoice_settings={"footer": "thanks"},
    )
    assert customer["id"].startswith("cus_")
    assert customer["name"] == "Ada Lovelace"
    assert customer["email"] == "Ada@example.com"  # the domain normalized, the local part as written
    assert customer["address"]["id"].startswith("addr_")
    assert customer["address"]["country"] == "GB"
    assert customer["shipping_address"] is None
    assert customer["currency"] == "gbp"
    assert customer["tax_ids"] == ["GB123456789"]
    assert customer["metadata"] == {"crm": "42"}
    assert customer["note_id"] is None
    assert customer["invoice_settings"] is None
    assert customer["external_id"] is None
    assert customer["created_at"].endswith(("Z", "+00:00"))


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"email": "not-an-email"}, ["body", "email"]),
        ({"email": None}, ["body", "email"]),
        ({"billing_email": "nope@"}, ["body", "billing_email"]),
        ({"phone": "call me"}, ["body", "phone"]),
        ({"currency": "xyz"}, ["body", "currency"]),
        ({"language": "zz-QQ"}, ["body", "language"]),
        ({"address": {"country": "Narnia"}}, ["body", "address", "country"]),
        ({"address": {"planet": "Mars"}}, ["body", "address", "planet"]),
        ({"metadata": {"n": 1}}, ["body", "metadata", "n"]),
        ({"tax_ids": ["x"] * 11}, ["body", "tax_ids"]),
        ({"nickname": "Ada"}, ["body", "nickname"]),
        ({"custom_fields": {"undefined": 1}}, ["body", "custom_fields", "undefined"]),
        ({"external_id": ""}, ["body", "external_id"]),
    ],
)
async def test_bad_input_is_a_422_naming_the_field_and_stores_nothing(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]], body: dict[str, Any], loc: list[str]
) -> None:
    path, headers = api
    response = await client.post(f"{path}/", json={"email": "ada@example.com", **body}, headers=headers)
    assert response.status_code == 422
    assert loc in [problem["loc"] for problem in response.json()["detail"]]
    assert await total(client, api) == 0


async def test_email_is_required_on_create(client: httpx.AsyncClient, api: tuple[str, dict[str, str]]) -> None:
    path, headers = api
    response = await client.post(f"{path}/", json={"first_name": "Ada"}, headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "email"]
    assert await total(client, api) == 0


async def test_get_expands_custom_fields_only_when_asked(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]], merchant: tuple[str, str]
) -> None:
    account_id, _ = merchant
    path, headers = api
    defined = await client.post(
        f"/api/{account_id}/custom-field-definitions/",
        json={"field_key": "vip", "entity_type": "customer", "data_type": "boolean", "display_name": "VIP"},
        headers=headers,
    )
    assert defined.status_code == 201
    customer = await create(client, api, custom_fields={"vip": True})
    assert customer["custom_fields"] == {"vip": True}
    plain = await client.get(f"{path}/{customer['id']}", headers=headers)
    assert plain.json()["custom_fields"] is None
    expanded = await client.get(f"{path}/{customer['id']}", params={"expand": "custom_fields"}, headers=headers)
    assert expanded.json()["custom_fields"] == {"vip": True}
    listed = await client.get(f"{path}/", params={"expand": ["custom_fields"]}, headers=headers)
    assert listed.json()["items"][0]["custom_fields"] == {"vip": True}
    unknown = await client.get(f"{path}/{customer['id']}", params={"expand": "orders"}, headers=headers)
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["loc"] == ["query", "expand"]


async def test_list_is_newest_first_paginated_filtered_and_searchable(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]], frozen_clock: FrozenClock
) -> None:
    path, headers = api
    made = []
    for first, last, email in (
        ("Ada", "Lovelace", "ada@example.com"),
        ("Grace", "Hopper", "Grace@Navy.mil"),
        ("Alan", "Turing", "alan@example.com"),
    ):
        made.append(await create(client, api, first_name=first, last_name=last, email=email, external_id=first))
        frozen_clock.advance(timedelta(seconds=1))

    first_page = (await client.get(f"{path}/", params={"limit": 2}, headers=headers)).json()
    assert [c["id"] for c in first_page["items"]] == [made[2]["id"], made[1]["id"]]
    assert (first_page["total"], first_page["has_more"]) == (3, True)
    second_page = (await client.get(f"{path}/", params={"limit": 2, "offset": 2}, headers=headers)).json()
    assert [c["id"] for c in second_page["items"]] == [made[0]["id"]]
    assert second_page["has_more"] is False

    async def ids(**params: Any) -> list[str]:
        response = await client.get(f"{path}/", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["items"]]

    assert await ids(filter='{"email": "grace@navy.MIL"}') == [made[1]["id"]]
    assert await ids(filter='{"external_id": "Alan"}') == [made[2]["id"]]
    assert await ids(search="ada love") == [made[0]["id"]]
    assert await ids(search="EXAMPLE.COM") == [made[2]["id"], made[0]["id"]]
    assert await ids(sortBy="name", sortOrder=1) == [made[0]["id"], made[2]["id"], made[1]["id"]]
    refused = await client.get(f"{path}/", params={"filter": '{"note": "x"}'}, headers=headers)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["query", "filter"]


async def test_put_is_a_partial_update(client: httpx.AsyncClient, api: tuple[str, dict[str, str]]) -> None:
    path, headers = api
    customer = await create(client, api, first_name="Ada", phone="+1 555 0100", metadata={"a": "1", "b": "2"})
    response = await client.put(
        f"{path}/{customer['id']}",
        json={"email": "ada@example.com", "last_name": "Lovelace", "phone": None, "metadata": {"b": "", "c": "3"}},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["first_name"], updated["last_name"], updated["name"]) == ("Ada", "Lovelace", "Ada Lovelace")
    assert updated["phone"] is None
    assert updated["metadata"] == {"a": "1", "c": "3"}
    assert updated["updated_at"] >= customer["updated_at"]

    no_email = await client.put(f"{path}/{customer['id']}", json={"business_name": "Analytical"}, headers=headers)
    assert no_email.status_code == 200
    assert no_email.json()["email"] == "ada@example.com"
    bad = await client.put(f"{path}/{customer['id']}", json={"email": None, "first_name": "X"}, headers=headers)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "email"]
    unchanged = (await client.get(f"{path}/{customer['id']}", headers=headers)).json()
    assert unchanged["first_name"] == "Ada"


async def test_add_address(client: httpx.AsyncClient, api: tuple[str, dict[str, str]]) -> None:
    path, headers = api
    customer = await create(client, api)
    billing = await client.post(
        f"{path}/{customer['id']}/addresses", json={"line1": "1 Main St", "country": "us"}, headers=headers
    )
    assert billing.status_code == 201
    assert billing.json()["id"].startswith("addr_")
    shipping = await client.post(
        f"{path}/{customer['id']}/addresses",
        json={"city": "Boston", "address_type": "shipping"},
        headers=headers,
    )
    fetched = (await client.get(f"{path}/{customer['id']}", headers=headers)).json()
    assert fetched["address"] == billing.json()
    assert fetched["shipping_address"] == shipping.json()
    wrong = await client.post(f"{path}/{customer['id']}/addresses", json={"address_type": "office"}, headers=headers)
    assert wrong.status_code == 422
    assert wrong.json()["detail"][0]["loc"] == ["body", "address_type"]
    missing = await client.post(f"{path}/cus_nope/addresses", json={"city": "X"}, headers=headers)
    assert missing.status_code == 404
    assert missing.json()["code"] == "customer_not_found"


async def test_external_id_lookup_filter_and_conflict(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]]
) -> None:
    path, headers = api
    customer = await create(client, api, external_id="user/42")
    found = await client.get(f"{path}/by-external-id/user%2F42", headers=headers)
    assert found.json()["id"] == customer["id"]
    plain = await create(client, api, external_id="user-42")
    assert (await client.get(f"{path}/by-external-id/user-42", headers=headers)).json()["id"] == plain["id"]
    assert (await client.get(f"{path}/by-external-id/other", headers=headers)).status_code == 404

    taken = await client.post(f"{path}/", json={"email": "b@example.com", "external_id": "user-42"}, headers=headers)
    assert taken.status_code == 409
    assert taken.json()["code"] == "customer_external_id_taken"
    moved = await client.put(f"{path}/{customer['id']}", json={"external_id": "user-42"}, headers=headers)
    assert moved.status_code == 409
    assert moved.json()["code"] == "customer_external_id_taken"
    assert await total(client, api) == 2


async def test_racing_creates_with_one_external_id_make_one_customer(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]]
) -> None:
    path, headers = api

    async def send(n: int) -> httpx.Response:
        body = {"email": f"racer{n}@example.com", "external_id": "same"}
        return await client.post(f"{path}/", json=body, headers=headers)

    responses = await asyncio.gather(*(send(n) for n in range(8)))
    assert sorted(r.status_code for r in responses) == [201] + [409] * 7
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"customer_external_id_taken"}
    listed = (await client.get(f"{path}/", params={"filter": '{"external_id": "same"}'}, headers=headers)).json()
    assert listed["total"] == 1


async def test_another_accounts_customers_are_404(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]], session: AsyncSession
) -> None:
    other = await accounts.create_account(session, name="Other")
    other_key = await accounts.create_api_key(session, other)
    await session.commit()
    theirs_path = f"/api/{other.id}/customers"
    theirs = await create(client, (theirs_path, bearer(other_key.secret)), external_id="x")

    path, headers = api
    for response in (
        await client.get(f"{path}/{theirs['id']}", headers=headers),
        await client.put(f"{path}/{theirs['id']}", json={"first_name": "Mallory"}, headers=headers),
        await client.post(f"{path}/{theirs['id']}/addresses", json={"city": "X"}, headers=headers),
        await client.get(f"{path}/by-external-id/x", headers=headers),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "customer_not_found"
    assert (await client.get(f"{theirs_path}/{theirs['id']}", headers=headers)).status_code == 404
    assert await total(client, api) == 0
    assert (await client.get(f"{theirs_path}/{theirs['id']}", headers=bearer(other_key.secret))).json()[
        "first_name"
    ] is None
