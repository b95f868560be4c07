"""``processor-routes/`` and the account's ``default-processor-route`` through the PaymentKit dialect, in process."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.events.models import Event
from tests.conftest import bearer


async def connect(client: httpx.AsyncClient, account_id: str, key: str, name: str) -> str:
    response = await client.post(
        f"/api/{account_id}/processors/", json={"name": name, "type": "simulator"}, headers=bearer(key)
    )
    assert response.status_code == 201
    return str(response.json()["id"])


def routes(account_id: str, *parts: str) -> str:
    return "/".join((f"/api/{account_id}/processor-routes", *parts))


async def test_create_get_list_update_delete(
    client: httpx.AsyncClient, merchant: tuple[str, str], session: AsyncSession
) -> None:
    account_id, key = merchant
    first, second = await connect(client, account_id, key, "A"), await connect(client, account_id, key, "B")
    created = await client.post(
        routes(account_id, ""),
        json={
            "name": "Main",
            "description": "B sets up, A charges",
            "processors": [{"processor_id": second, "disposition": "setup_only"}, {"processor_id": first}],
        },
        headers=bearer(key),
    )
    assert created.status_code == 201, created.text
    route = created.json()
    assert route["id"].startswith("proute_")
    assert route["processors"] == [
        {"processor_id": second, "disposition": "setup_only"},
        {"processor_id": first, "disposition": "charge_and_setup"},
    ]
    assert (await client.get(routes(account_id, route["id"]), headers=bearer(key))).json() == route

    other = (
        await client.post(
            routes(account_id, ""), json={"name": "Other", "processors": [{"processor_id": first}]}, headers=bearer(key)
        )
    ).json()
    listed = await client.get(routes(account_id, ""), params={"limit": 1}, headers=bearer(key))
    assert listed.json() == {"data": [other], "total": 2, "limit": 1, "offset": 0}
    second_page = await client.get(routes(account_id, ""), params={"limit": 1, "offset": 1}, headers=bearer(key))
    assert [r["id"] for r in second_page.json()["data"]] == [route["id"]]

    updated = await client.patch(
        routes(account_id, route["id"]),
        json={"name": "Renamed", "processors": [{"processor_id": first}, {"processor_id": second}]},
        headers=bearer(key),
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["name"] == "Renamed"
    assert updated.json()["description"] == "B sets up, A charges"
    assert [p["processor_id"] for p in updated.json()["processors"]] == [first, second]

    deleted = await client.delete(routes(account_id, route["id"]), headers=bearer(key))
    assert deleted.status_code == 204
    assert (await client.get(routes(account_id, route["id"]), headers=bearer(key))).status_code == 404
    types = (
        await session.scalars(select(Event.type).where(Event.aggregate_id == route["id"]).order_by(Event.seq))
    ).all()
    assert types == ["processor_route.created", "processor_route.updated", "processor_route.deleted"]


async def test_bad_routes_name_the_field_and_change_nothing(
    client: httpx.AsyncClient, merchant: tuple[str, str], session: AsyncSession
) -> None:
    account_id, key = merchant
    mine = await connect(client, account_id, key, "A")
    stranger = await accounts.create_account(session, name="Stranger")
    stranger_key = await accounts.create_api_key(session, stranger)
    await session.commit()
    theirs = await connect(client, stranger.id, stranger_key.secret, "Theirs")
    cases = [
        (
            {"name": "R", "processors": [{"processor_id": mine}, {"processor_id": theirs}]},
            [("body", "processors", 1, "processor_id")],
        ),
        (
            {"name": "R", "processors": [{"processor_id": mine}, {"processor_id": mine}]},
            [("body", "processors", 1, "processor_id")],
        ),
        ({"name": "R", "processors": []}, [("body", "processors")]),
        (
            {"name": "R", "processors": [{"processor_id": mine, "disposition": "maybe"}]},
            [("body", "processors", 0, "disposition")],
        ),
        ({"name": "R", "processors": [{"processor_id": mine, "weight": 2}]}, [("body", "processors", 0, "weight")]),
        ({"name": "", "processors": [{"processor_id": mine}]}, [("body", "name")]),
        ({"processors": [{"processor_id": mine}]}, [("body", "name")]),
    ]
    for body, expected in cases:
        response = await client.post(routes(account_id, ""), json=body, headers=bearer(key))
        assert response.status_code == 422, body
        assert [tuple(problem["loc"]) for problem in response.json()["detail"]] == expected
    assert (await client.get(routes(account_id, ""), headers=bearer(key))).json()["total"] == 0

    route = (
        await client.post(
            routes(account_id, ""), json={"name": "R", "processors": [{"processor_id": mine}]}, headers=bearer(key)
        )
    ).json()
    for change in ({"processors": None}, {"name": None}, {"processors": [{"processor_id": theirs}]}):
        refused = await client.patch(routes(account_id, route["id"]), json=change, headers=bearer(key))
        assert refused.status_code == 422, change
    assert (await client.get(routes(account_id, route["id"]), headers=bearer(key))).json() == route
    for method in ("GET", "PATCH", "DELETE"):
        response = await client.request(
            method, routes(stranger.id, route["id"]), json={}, headers=bearer(stranger_key.secret)
        )
        assert response.status_code == 404
        assert response.json()["code"] == "processor_route_not_found"


async def test_the_default_route_is_set_cleared_and_protected(
    client: httpx.AsyncClient, merchant: tuple[str, str], session: AsyncSession
) -> None:
    account_id, key = merchant
    processor = await connect(client, account_id, key, "A")
    route = (
        await client.post(
            routes(account_id, ""), json={"name": "R", "processors": [{"processor_id": processor}]}, headers=bearer(key)
        )
    ).json()
    default_path = f"/api/accounts/{account_id}/default-processor-route"

    unknown = await client.patch(default_path, json={"default_processor_route_id": "proute_nope"}, headers=bearer(key))
    assert unknown.status_code == 422
    assert [tuple(p["loc"]) for p in unknown.json()["detail"]] == [("body", "default_processor_route_id")]

    made = await client.patch(default_path, json={"default_processor_route_id": route["id"]}, headers=bearer(key))
    assert made.status_code == 200
    assert made.json() == {"default_processor_route_id": route["id"]}
    account = await client.get(f"/api/accounts/{account_id}", headers=bearer(key))
    assert account.json()["default_processor_route_id"] == route["id"]
    untouched = await client.patch(default_path, json={}, headers=bearer(key))
    assert untouched.json() == {"default_processor_route_id": route["id"]}

    refused = await client.delete(routes(account_id, route["id"]), headers=bearer(key))
    assert refused.status_code == 409
    assert refused.json()["code"] == "route_in_use"

    cleared = await client.patch(default_path, json={"default_processor_route_id": None}, headers=bearer(key))
    assert cleared.json() == {"default_processor_route_id": None}
    assert (await client.delete(routes(account_id, route["id"]), headers=bearer(key))).status_code == 204

    stranger = await accounts.create_account(session, name="Stranger")
    stranger_key = await accounts.create_api_key(session, stranger)
    await session.commit()
    other = await client.patch(
        f"/api/accounts/{stranger.id}/default-processor-route",
        json={"default_processor_route_id": None},
        headers=bearer(key),
    )
    assert other.status_code == 404
    assert stranger_key.secret not in other.text


async def test_concurrent_route_updates_leave_one_whole_list(
    client: httpx.AsyncClient, merchant: tuple[str, str]
) -> None:
    """Updates racing on one route each replace its whole list: whichever wins, the list is one of theirs, never
    a mix of two."""
    account_id, key = merchant
    ids = [await connect(client, account_id, key, name) for name in "ABCD"]
    route = (
        await client.post(
            routes(account_id, ""), json={"name": "R", "processors": [{"processor_id": ids[0]}]}, headers=bearer(key)
        )
    ).json()
    orders = [ids, ids[::-1], ids[1:], ids[:2]]
    responses = await asyncio.gather(
        *(
            client.patch(
                routes(account_id, route["id"]),
                json={"processors": [{"processor_id": p} for p in order]},
                headers=bearer(key),
            )
            for order in orders
        )
    )
    assert {response.status_code for response in responses} == {200}
    final = (await client.get(routes(account_id, route["id"]), headers=bearer(key))).json()
    assert [p["processor_id"] for p in final["processors"]] in orders
