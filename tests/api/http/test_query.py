"""``expand``, one mechanism for every endpoint: repeated and comma-separated parts, an unknown part a 422 naming
the allowed ones, and OpenAPI listing them."""

from __future__ import annotations

import httpx
import pytest
from fastapi.exceptions import RequestValidationError

from checkstand.api.http.query import expand_query
from tests.conftest import bearer

EXPAND = expand_query("custom_fields", "items")


async def test_repeated_and_comma_separated_parts_are_one_set() -> None:
    assert await EXPAND(["custom_fields,items", "items"]) == {"custom_fields", "items"}
    assert await EXPAND([" items , ", ""]) == {"items"}
    assert await EXPAND([]) == frozenset()


async def test_an_unknown_part_is_refused_at_expand_naming_the_allowed_ones() -> None:
    with pytest.raises(RequestValidationError) as raised:
        await EXPAND(["items,owner"])
    [problem] = raised.value.errors()
    assert problem["loc"] == ("query", "expand")
    assert problem["msg"] == "cannot expand 'owner'; expandable: custom_fields, items"


async def test_every_endpoint_refuses_an_unknown_part(client: httpx.AsyncClient, merchant: tuple[str, str]) -> None:
    account_id, secret = merchant
    for resource in ("checkout-sessions", "checkout-attempts", "customers", "products", "prices", "subscriptions"):
        refused = await client.get(f"/api/{account_id}/{resource}/", params={"expand": "nope"}, headers=bearer(secret))
        assert refused.status_code == 422, resource
        assert refused.json()["detail"][0]["loc"] == ["query", "expand"], resource


async def test_openapi_lists_each_endpoints_parts(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    expands = {
        f"{method.upper()} {path}": parameter["schema"]
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        for parameter in operation.get("parameters", [])
        if parameter["name"] == "expand"
    }
    assert len(expands) >= 10
    for operation, parameter in expands.items():
        assert parameter["items"]["enum"], operation
    assert expands["GET /api/{account_id}/checkout-attempts/"]["items"]["enum"] == ["processor_attempts"]
