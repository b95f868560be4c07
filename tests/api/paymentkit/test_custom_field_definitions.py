"""``custom-field-definitions/`` in the PaymentKit dialect, in process, on both backends."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from tests.conftest import bearer


@pytest.fixture
def api(merchant: tuple[str, str]) -> tuple[str, dict[str, str]]:
    account_id, secret = merchant
    return f"/api/{account_id}/custom-field-definitions", bearer(secret)


async def define(client: httpx.AsyncClient, api: tuple[str, dict[str, str]], **body: Any) -> dict[str, Any]:
    path, headers = api
    fields = {"field_key": "tier", "entity_type": "customer", "data_type": "text", "display_name": "Tier", **body}
    response = await client.post(f"{path}/", json=fields, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def listed(client: httpx.AsyncClient, api: tuple[str, dict[str, str]], **params: str) -> list[str]:
    path, headers = api
    response = await client.get(f"{path}/", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [definition["field_key"] for definition in response.json()]


async def test_create_get_and_list_by_entity_type(client: httpx.AsyncClient, api: tuple[str, dict[str, str]]) -> None:
    path, headers = api
    tier = await define(
        client,
        api,
        data_type="select",
        description="Loyalty tier",
        constraints={"required": False, "options": ["gold", "silver"]},
    )
    assert tier["id"].startswith("cfd_")
    assert tier["constraints"] == {"required": False, "options": ["gold", "silver"]}
    await define(client, api, field_key="sku-note", entity_type="product")
    await define(client, api, field_key="source", entity_type="checkout_session", data_type="boolean")
    assert (await client.get(f"{path}/{tier['id']}", headers=headers)).json() == tier
    assert await listed(client, api) == ["source", "sku-note", "tier"]
    assert await listed(client, api, entity_type="product") == ["sku-note"]
    bad_filter = await client.get(f"{path}/", params={"entity_type": "order"}, headers=headers)
    assert bad_filter.status_code == 422
    assert bad_filter.json()["detail"][0]["loc"] == ["query", "entity_type"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"field_key": "Tier"}, ["body", "field_key"]),
        ({"field_key": "1tier"}, ["body", "field_key"]),
        ({"field_key": "t"}, ["body", "field_key"]),
        ({"field_key": "t" * 65}, ["body", "field_key"]),
        ({"field_key": "tier level"}, ["body", "field_key"]),
        ({"entity_type": "order"}, ["body", "entity_type"]),
        ({"data_type": "date"}, ["body", "data_type"]),
        ({"display_name": "  "}, ["body", "display_name"]),
        ({"constraints": {"options": ["a"]}}, ["body", "constraints", "options"]),
        ({"data_type": "select"}, ["body", "constraints", "options"]),
        ({"data_type": "select", "constraints": {"options": []}}, ["body", "constraints", "options"]),
        ({"data_type": "number", "constraints": {"min": 3, "max": 1}}, ["body", "constraints", "max"]),
        ({"constraints": {"max_length": 1000}}, ["body", "constraints", "max_length"]),
        ({"colour": "red"}, ["body", "colour"]),
    ],
)
async def test_bad_definitions_are_422_naming_the_field_and_store_nothing(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]], body: dict[str, Any], loc: list[str]
) -> None:
    path, headers = api
    fields = {"field_key": "tier", "entity_type": "customer", "data_type": "text", "display_name": "Tier", **body}
    response = await client.post(f"{path}/", json=fields, headers=headers)
    assert response.status_code == 422
    assert loc in [problem["loc"] for problem in response.json()["detail"]]
    assert await listed(client, api) == []


async def test_a_taken_key_is_409(client: httpx.AsyncClient, api: tuple[str, dict[str, str]]) -> None:
    path, headers = api
    await define(client, api)
    again = await client.post(
        f"{path}/",
        json={"field_key": "tier", "entity_type": "customer", "data_type": "number", "display_name": "Tier 2"},
        headers=headers,
    )
    assert again.status_code == 409
    assert again.json()["code"] == "custom_field_key_taken"
    await define(client, api, entity_type="subscription")


async def test_update_changes_names_and_constraints_only(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]]
) -> None:
    path, headers = api
    tier = await define(client, api, description="old")
    response = await client.patch(
        f"{path}/{tier['id']}",
        json={"display_name": "Level", "constraints": {"max_length": 10, "required": True}},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["display_name"], updated["description"]) == ("Level", "old")
    assert updated["constraints"] == {"max_length": 10, "required": True}

    cleared = await client.patch(f"{path}/{tier['id']}", json={"description": None}, headers=headers)
    assert cleared.json()["description"] is None
    for body, loc in (
        ({"data_type": "number"}, ["body", "data_type"]),
        ({"field_key": "level"}, ["body", "field_key"]),
        ({"display_name": None}, ["body", "display_name"]),
        ({"constraints": {"options": ["a"]}}, ["body", "constraints", "options"]),
    ):
        refused = await client.patch(f"{path}/{tier['id']}", json=body, headers=headers)
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["loc"] == loc
    assert (await client.get(f"{path}/{tier['id']}", headers=headers)).json()["display_name"] == "Level"


async def test_removing_a_select_option_in_use_is_refused(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]], merchant: tuple[str, str]
) -> None:
    account_id, _ = merchant
    path, headers = api
    tier = await define(client, api, data_type="select", constraints={"options": ["gold", "silver"]})
    customer = await client.post(
        f"/api/{account_id}/customers/",
        json={"email": "a@example.com", "custom_fields": {"tier": "gold"}},
        headers=headers,
    )
    assert customer.status_code == 201
    refused = await client.patch(f"{path}/{tier['id']}", json={"constraints": {"options": ["silver"]}}, headers=headers)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "constraints", "options"]
    allowed = await client.patch(
        f"{path}/{tier['id']}", json={"constraints": {"options": ["gold", "bronze"]}}, headers=headers
    )
    assert allowed.json()["constraints"] == {"options": ["gold", "bronze"]}


async def test_delete_needs_the_key_and_deletes_the_values(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]], merchant: tuple[str, str]
) -> None:
    account_id, _ = merchant
    path, headers = api
    tier = await define(client, api)
    customers = f"/api/{account_id}/customers"
    for n in range(2):
        made = await client.post(
            f"{customers}/", json={"email": f"c{n}@example.com", "custom_fields": {"tier": "x"}}, headers=headers
        )
        assert made.status_code == 201

    wrong = await client.request("DELETE", f"{path}/{tier['id']}", json={"confirm_field_key": "tie"}, headers=headers)
    assert wrong.status_code == 422
    assert wrong.json()["detail"][0]["loc"] == ["body", "confirm_field_key"]
    missing = await client.delete(f"{path}/{tier['id']}", headers=headers)
    assert missing.status_code == 422
    assert (await client.get(f"{path}/{tier['id']}", headers=headers)).status_code == 200

    deleted = await client.request(
        "DELETE", f"{path}/{tier['id']}", json={"confirm_field_key": "tier"}, headers=headers
    )
    assert deleted.status_code == 204
    assert deleted.headers["x-deleted-values-count"] == "2"
    gone = await client.get(f"{path}/{tier['id']}", headers=headers)
    assert gone.status_code == 404
    assert gone.json()["code"] == "custom_field_definition_not_found"
    stored = (await client.get(f"{customers}/", params={"expand": "custom_fields"}, headers=headers)).json()
    assert [c["custom_fields"] for c in stored["items"]] == [{}, {}]


async def test_another_accounts_definitions_are_404_and_not_listed(
    client: httpx.AsyncClient, api: tuple[str, dict[str, str]], session: AsyncSession
) -> None:
    other = await accounts.create_account(session, name="Other")
    other_key = await accounts.create_api_key(session, other)
    await session.commit()
    theirs = await define(client, (f"/api/{other.id}/custom-field-definitions", bearer(other_key.secret)))
    path, headers = api
    assert await listed(client, api) == []
    for response in (
        await client.get(f"{path}/{theirs['id']}", headers=headers),
        await client.patch(f"{path}/{theirs['id']}", json={"display_name": "Mine"}, headers=headers),
        await client.request("DELETE", f"{path}/{theirs['id']}", json={"confirm_field_key": "tier"}, headers=headers),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "custom_field_definition_not_found"
