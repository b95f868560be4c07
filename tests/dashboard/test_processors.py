"""Processors and processor routes in the dashboard: connected, changed and deleted through the API's own service
and messages; a Stripe secret never written back into a page; refusals named at their field with nothing changed;
no processor or route of another account; no form without its CSRF token."""

from __future__ import annotations

import re

import httpx
from markupsafe import escape
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import bearer
from tests.dashboard.helpers import make_user, page_csrf, sign_in
from tests.payments import flow

NEW = "/dashboard/processors/new"
NEW_ROUTE = "/dashboard/processors/routes/new"
SECRET = "sk_test_" + "S3cr3tValue" * 3
WEBHOOK_SECRET = "whsec_" + "W3bh00kValue" * 3


def _invalid(page: str, field_id: str) -> bool:
    return re.search(rf'id="{re.escape(field_id)}"[^>]*aria-invalid="true"', page) is not None


async def _processors(client: httpx.AsyncClient, account_id: str, key: str) -> list[dict[str, object]]:
    found = (await client.get(f"/api/{account_id}/processors/", headers=bearer(key))).json()
    return list(found["items"])


async def test_connect_a_stripe_processor_its_secrets_write_only(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    await sign_in(client, user.email)
    form = {
        "csrf_token": await page_csrf(client, NEW),
        "type": "stripe",
        "name": "Stripe EU",
        "currencies": "eur, usd",
        "is_active": "on",
        "secret_key": SECRET,
        "webhook_secret": WEBHOOK_SECRET,
        "publishable_key": "pk_test_" + "Publ1c" * 3,
    }
    created = await client.post(NEW, data=form)
    assert created.status_code == 303, created.text
    path = created.headers["location"].split("?")[0]
    (api,) = await _processors(client, user.account_id, user.secret)
    assert (api["name"], api["type"], api["currencies"], api["is_active"]) == (
        "Stripe EU",
        "stripe",
        ["eur", "usd"],
        True,
    )
    assert api["secret_key_last4"] == SECRET[-4:]
    page = await client.get(path)
    assert page.status_code == 200
    assert SECRET not in page.text
    assert WEBHOOK_SECRET not in page.text
    assert f"ending in <code>{SECRET[-4:]}</code>" in page.text
    assert 'type="password" autocomplete="off" value=""' in page.text

    # Left empty, the secrets stay; a bad one is refused by name, never quoted, and nothing changes.
    csrf = await page_csrf(client, path)
    edit = {"csrf_token": csrf, "name": "Stripe Europe", "currencies": "eur", "is_active": "on"}
    refused = await client.post(path, data={**edit, "secret_key": "sk_wrong_and_secret"})
    assert refused.status_code == 422
    assert _invalid(refused.text, "secret_key")
    assert "sk_wrong_and_secret" not in refused.text
    assert (await _processors(client, user.account_id, user.secret))[0]["name"] == "Stripe EU"
    saved = await client.post(path, data={**edit, "publishable_key": form["publishable_key"]})
    assert saved.status_code == 303
    (api,) = await _processors(client, user.account_id, user.secret)
    assert (api["name"], api["currencies"], api["secret_key_last4"]) == ("Stripe Europe", ["eur"], SECRET[-4:])


async def test_refusals_are_the_apis_next_to_their_fields(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    await sign_in(client, user.email)
    api = await client.post(
        f"/api/{user.account_id}/processors/",
        json={"name": "S", "type": "stripe", "currencies": ["usd", "xxx"], "webhook_secret": "nope"},
        headers=bearer(user.secret),
    )
    assert api.status_code == 422
    messages = {problem["loc"][1]: problem["msg"] for problem in api.json()["detail"]}
    refused = await client.post(
        NEW,
        data={
            "csrf_token": await page_csrf(client, NEW),
            "type": "stripe",
            "name": "S",
            "currencies": "usd, xxx",
            "webhook_secret": "nope",
        },
    )
    assert refused.status_code == 422
    for field, message in messages.items():
        assert _invalid(refused.text, field), field
        assert escape(message) in refused.text
    assert "nope" not in refused.text  # a secret typed is not written back
    nameless = await client.post(NEW, data={"csrf_token": await page_csrf(client, NEW), "type": "simulator"})
    assert nameless.status_code == 422
    assert _invalid(nameless.text, "name")
    simulator_key = await client.post(
        NEW,
        data={"csrf_token": await page_csrf(client, NEW), "type": "simulator", "name": "Sim", "api_base": "https://x"},
    )
    assert simulator_key.status_code == 422
    assert "a simulator processor has no such setting" in simulator_key.text
    assert await _processors(client, user.account_id, user.secret) == []


async def test_a_simulator_and_a_route_changed_and_deleted(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    first = await flow.simulator(session, user.account_id)
    await session.commit()
    await sign_in(client, user.email)
    created = await client.post(
        NEW,
        data={"csrf_token": await page_csrf(client, NEW), "type": "simulator", "name": "Backup", "is_active": "on"},
    )
    assert created.status_code == 303
    second_path = created.headers["location"].split("?")[0]
    second_id = second_path.rsplit("/", 1)[1]
    listing = await client.get("/dashboard/processors")
    assert "2 processors." in listing.text

    csrf = await page_csrf(client, NEW_ROUTE)
    bad_route = await client.post(
        NEW_ROUTE,
        data={"csrf_token": csrf, "name": "Main", "processor_id.0": second_id, "processor_id.2": second_id},
    )
    assert bad_route.status_code == 422
    assert "the processor is already in the route" in bad_route.text
    assert _invalid(bad_route.text, "processor_id-2")
    route = await client.post(
        NEW_ROUTE,
        data={
            "csrf_token": csrf,
            "name": "Main",
            "processor_id.0": second_id,
            "processor_id.1": first.id,
            "disposition.1": "setup_only",
        },
    )
    assert route.status_code == 303, route.text
    route_path = route.headers["location"].split("?")[0]
    route_id = route_path.rsplit("/", 1)[1]
    api_route = (
        await client.get(f"/api/{user.account_id}/processor-routes/{route_id}", headers=bearer(user.secret))
    ).json()
    assert [(step["processor_id"], step["disposition"]) for step in api_route["processors"]] == [
        (second_id, "charge_and_setup"),
        (first.id, "setup_only"),
    ]
    assert "Backup" in (await client.get("/dashboard/processors/routes")).text

    # In a route, the processor can't be disconnected: the service's 409, and it stays.
    in_use = await client.post(f"{second_path}/delete", data={"csrf_token": csrf})
    assert in_use.status_code == 409
    assert "take it out of them first" in in_use.text
    unavailable = await client.post(
        second_path, data={"csrf_token": csrf, "name": "Backup", "currencies": "usd", "is_active": "on"}
    )
    assert unavailable.status_code == 303  # is_available unchecked
    changed = next(p for p in await _processors(client, user.account_id, user.secret) if p["id"] == second_id)
    assert (changed["is_available"], changed["currencies"]) == (False, ["usd"])

    edited = await client.post(route_path, data={"csrf_token": csrf, "name": "Only one", "processor_id.0": first.id})
    assert edited.status_code == 303
    deleted_route = await client.post(f"{route_path}/delete", data={"csrf_token": csrf})
    assert deleted_route.status_code == 303
    assert (
        await client.get(f"/api/{user.account_id}/processor-routes/{route_id}", headers=bearer(user.secret))
    ).status_code == 404
    gone = await client.post(f"{second_path}/delete", data={"csrf_token": csrf})
    assert gone.status_code == 303
    assert [p["id"] for p in await _processors(client, user.account_id, user.secret)] == [first.id]


async def test_csrf_and_another_accounts_objects(client: httpx.AsyncClient, session: AsyncSession) -> None:
    owner = await make_user(session)
    processor = await flow.simulator(session, owner.account_id)
    await session.commit()
    other = await make_user(session, email="other@b.example", name="B")
    await sign_in(client, owner.email)
    route = await client.post(
        NEW_ROUTE,
        data={"csrf_token": await page_csrf(client, NEW_ROUTE), "name": "R", "processor_id.0": processor.id},
    )
    route_path = route.headers["location"].split("?")[0]
    path = f"/dashboard/processors/{processor.id}"
    for target in (path, f"{path}/delete", route_path, f"{route_path}/delete", NEW, NEW_ROUTE):
        refused = await client.post(target, data={"name": "x", "type": "simulator"})
        assert refused.status_code == 403, target
    assert len(await _processors(client, owner.account_id, owner.secret)) == 1

    await sign_in(client, other.email)
    csrf = await page_csrf(client, "/dashboard/processors")
    assert (await client.get(path)).status_code == 404
    assert (await client.get(route_path)).status_code == 404
    assert (await client.post(path, data={"csrf_token": csrf, "name": "mine"})).status_code == 404
    assert (await client.post(f"{path}/delete", data={"csrf_token": csrf})).status_code == 404
    assert (await client.post(route_path, data={"csrf_token": csrf, "name": "mine"})).status_code == 404
    assert (await client.post(f"{route_path}/delete", data={"csrf_token": csrf})).status_code == 404
    # Nor offered as a step of this account's route.
    stolen = await client.post(
        NEW_ROUTE, data={"csrf_token": await page_csrf(client, NEW_ROUTE), "name": "R", "processor_id.0": processor.id}
    )
    assert stolen.status_code == 422
    assert "0 processors." in (await client.get("/dashboard/processors")).text
    (kept,) = await _processors(client, owner.account_id, owner.secret)
    assert kept["name"] == processor.name
    assert kept["is_active"] is True
