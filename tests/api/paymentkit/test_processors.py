"""``processors/`` through the PaymentKit dialect, in process; and that no credential ever leaves the server."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.events.models import Event
from tests.conftest import bearer
from tests.support import Server

SECRET_KEY = "sk_test_51PkQaAbCdEfGhIjKlMnOpQrStUv"
ROTATED_KEY = "sk_test_51PkQaZyXwVuTsRqPoNmLkJiHgFe"
WEBHOOK_SECRET = "whsec_8sFhKq2LxP0vYtZmR4nW6cJdQ9aBgE1u"
STRIPE_BODY = {
    "name": "Stripe",
    "type": "stripe",
    "currencies": ["usd", "eur"],
    "secret_key": SECRET_KEY,
    "webhook_secret": WEBHOOK_SECRET,
    "api_base": "http://127.0.0.1:8420/",
    "metadata": {"team": "payments"},
}
PUBLISHABLE_KEY = "pk_test_51PkQaAbCdEfGhIjKlMnOp"
SECRETS = (SECRET_KEY, ROTATED_KEY, WEBHOOK_SECRET, WEBHOOK_SECRET.removeprefix("whsec_"))


def path(account_id: str, *parts: str) -> str:
    return "/".join((f"/api/{account_id}/processors", *parts))


def assert_no_secret(*texts: str) -> None:
    for found in texts:
        for secret in SECRETS:
            assert secret not in found


async def test_create_read_list_update_a_stripe_processor(client: httpx.AsyncClient, merchant: tuple[str, str]) -> None:
    account_id, key = merchant
    created = await client.post(path(account_id, ""), json=STRIPE_BODY, headers=bearer(key))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["id"].startswith("proc_")
    assert body["type"] == "stripe"
    assert body["currencies"] == ["usd", "eur"]
    assert body["api_base"] == "http://127.0.0.1:8420"
    assert (body["has_secret_key"], body["secret_key_last4"], body["has_webhook_secret"]) == (True, "StUv", True)
    assert body["livemode"] is False
    assert body["metadata"] == {"team": "payments"}
    assert "secret_key" not in body
    assert "webhook_secret" not in body

    simulator = await client.post(path(account_id, ""), json={"name": "Sim", "type": "simulator"}, headers=bearer(key))
    assert simulator.status_code == 201
    assert simulator.json()["has_secret_key"] is False

    listed = await client.get(path(account_id, ""), headers=bearer(key))
    assert listed.json()["total"] == 2
    assert listed.json()["has_more"] is False
    assert [item["name"] for item in listed.json()["items"]] == ["Sim", "Stripe"]
    only_stripe = await client.get(path(account_id, ""), params={"filter": '{"type": "stripe"}'}, headers=bearer(key))
    assert [item["id"] for item in only_stripe.json()["items"]] == [body["id"]]

    updated = await client.patch(
        path(account_id, body["id"]),
        json={"secret_key": ROTATED_KEY, "is_active": False, "metadata": {"team": ""}},
        headers=bearer(key),
    )
    assert updated.status_code == 200, updated.text
    assert (updated.json()["secret_key_last4"], updated.json()["is_active"]) == ("HgFe", False)
    assert updated.json()["metadata"] == {}
    fetched = await client.get(path(account_id, body["id"]), headers=bearer(key))
    assert fetched.json() == updated.json()
    assert_no_secret(created.text, listed.text, updated.text, fetched.text)


async def test_bad_input_names_the_field_and_changes_nothing(
    client: httpx.AsyncClient, merchant: tuple[str, str]
) -> None:
    account_id, key = merchant
    cases = [
        ({"name": "S", "type": "paypal"}, {("body", "type")}),
        ({"name": "S", "type": "simulator", "colour": "red"}, {("body", "colour")}),
        ({**STRIPE_BODY, "secret_key": "sk_prod_" + SECRET_KEY}, {("body", "secret_key")}),
        ({**STRIPE_BODY, "currencies": ["usd", "ABC"]}, {("body", "currencies", 1)}),
        ({**STRIPE_BODY, "api_base": "ftp://stripe.test"}, {("body", "api_base")}),
        ({"name": "S", "type": "stripe"}, {("body", "secret_key"), ("body", "webhook_secret"), ("body", "currencies")}),
        ({"name": "S", "type": "simulator", "webhook_secret": WEBHOOK_SECRET}, {("body", "webhook_secret")}),
    ]
    for request, expected in cases:
        response = await client.post(path(account_id, ""), json=request, headers=bearer(key))
        assert response.status_code == 422, request
        assert {tuple(problem["loc"]) for problem in response.json()["detail"]} == expected
        assert_no_secret(response.text)
    assert (await client.get(path(account_id, ""), headers=bearer(key))).json()["total"] == 0

    created = (await client.post(path(account_id, ""), json=STRIPE_BODY, headers=bearer(key))).json()
    for change, loc in (({"name": None}, ("body", "name")), ({"webhook_secret": None}, ("body", "webhook_secret"))):
        refused = await client.patch(path(account_id, created["id"]), json=change, headers=bearer(key))
        assert refused.status_code == 422
        assert [tuple(problem["loc"]) for problem in refused.json()["detail"]] == [loc]
    assert (await client.get(path(account_id, created["id"]), headers=bearer(key))).json() == created


async def test_delete_is_refused_while_a_route_uses_the_processor(
    client: httpx.AsyncClient, merchant: tuple[str, str]
) -> None:
    account_id, key = merchant
    processor = (await client.post(path(account_id, ""), json=STRIPE_BODY, headers=bearer(key))).json()
    route = await client.post(
        f"/api/{account_id}/processor-routes/",
        json={"name": "Main", "processors": [{"processor_id": processor["id"]}]},
        headers=bearer(key),
    )
    refused = await client.delete(path(account_id, processor["id"]), headers=bearer(key))
    assert refused.status_code == 409
    assert refused.json()["code"] == "processor_in_use"
    assert route.json()["id"] in refused.json()["detail"]

    assert (
        await client.delete(f"/api/{account_id}/processor-routes/{route.json()['id']}", headers=bearer(key))
    ).status_code == 204
    deleted = await client.delete(path(account_id, processor["id"]), headers=bearer(key))
    assert deleted.status_code == 204
    assert (await client.get(path(account_id, processor["id"]), headers=bearer(key))).status_code == 404
    assert (await client.get(path(account_id, ""), headers=bearer(key))).json()["total"] == 0


async def test_another_accounts_processors_are_not_found(client: httpx.AsyncClient, session: AsyncSession) -> None:
    mine = await accounts.create_account(session, name="Mine")
    my_key = await accounts.create_api_key(session, mine)
    theirs = await accounts.create_account(session, name="Theirs")
    their_key = await accounts.create_api_key(session, theirs)
    await session.commit()
    processor = (await client.post(path(theirs.id, ""), json=STRIPE_BODY, headers=bearer(their_key.secret))).json()

    for method in ("GET", "PATCH", "DELETE"):
        response = await client.request(
            method, path(mine.id, processor["id"]), json={"name": "x"}, headers=bearer(my_key.secret)
        )
        assert response.status_code == 404
        assert response.json()["code"] == "processor_not_found"
    assert (await client.get(path(mine.id, ""), headers=bearer(my_key.secret))).json()["items"] == []
    assert (await client.get(path(theirs.id, ""), headers=bearer(my_key.secret))).status_code == 404


async def test_no_credential_is_stored_in_the_clear_or_carried_by_an_event(
    client: httpx.AsyncClient, merchant: tuple[str, str], session: AsyncSession
) -> None:
    account_id, key = merchant
    created = (await client.post(path(account_id, ""), json=STRIPE_BODY, headers=bearer(key))).json()
    await client.patch(path(account_id, created["id"]), json={"secret_key": ROTATED_KEY}, headers=bearer(key))
    row = (await session.execute(text("SELECT * FROM processors WHERE id = :id"), {"id": created["id"]})).one()
    assert_no_secret(" ".join(map(str, row)))
    events = (await session.scalars(select(Event).where(Event.aggregate_id == created["id"]).order_by(Event.seq))).all()
    assert [event.type for event in events] == ["processor.created", "processor.updated"]
    assert events[1].previous_data == {"secret_key_last4": "StUv"}
    assert_no_secret(*(f"{event.data} {event.previous_data}" for event in events))
    # Every table: the idempotency store, the event log, anything a future change might write to.
    for table in ("idempotency_keys", "events", "webhook_deliveries"):
        for stored in (await session.execute(text(f"SELECT * FROM {table}"))).all():
            assert_no_secret(" ".join(map(str, stored)))


def test_secrets_never_reach_the_server_log(server: Server) -> None:
    """Through a real server: create, a refused create (a mistyped secret) and an update, then read its output."""
    account_id, key = server.new_account()
    with httpx.Client(base_url=server.base_url, headers=bearer(key), timeout=30) as http:
        created = http.post(f"/api/{account_id}/processors/", json=STRIPE_BODY)
        assert created.status_code == 201
        refused = http.post(
            f"/api/{account_id}/processors/", json={**STRIPE_BODY, "webhook_secret": "wh_" + WEBHOOK_SECRET}
        )
        assert refused.status_code == 422
        updated = http.patch(f"/api/{account_id}/processors/{created.json()['id']}", json={"secret_key": ROTATED_KEY})
        assert updated.status_code == 200
        # A request the access log does record, so the log is known to be read up to here.
        marker = http.get(
            f"/api/{account_id}/processors/{created.json()['id']}", headers={"X-Request-Id": "marker.processors.1"}
        )
    assert marker.status_code == 200
    output = _output_through(server, "marker.processors.1")
    assert created.headers["x-request-id"] in output
    assert_no_secret(output)
    assert_no_secret(created.text, refused.text, updated.text, marker.text)


def _output_through(server: Server, marker: str) -> str:
    """The server's output once it has logged ``marker`` (its log is read by a thread)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        output = "".join(server.output)
        if marker in output:
            return output
        time.sleep(0.05)
    raise AssertionError(f"{marker} never logged:\n" + "".join(server.output))


async def test_the_publishable_key_is_set_shown_changed_and_cleared_through_the_api(
    client: httpx.AsyncClient, merchant: tuple[str, str]
) -> None:
    account_id, secret = merchant
    headers = bearer(secret)
    created = await client.post(
        path(account_id, ""), json={**STRIPE_BODY, "publishable_key": PUBLISHABLE_KEY}, headers=headers
    )

    assert created.status_code == 201, created.text
    assert created.json()["publishable_key"] == PUBLISHABLE_KEY
    processor_id = created.json()["id"]
    changed = await client.patch(
        path(account_id, processor_id), json={"publishable_key": "pk_test_another00000001"}, headers=headers
    )
    assert changed.json()["publishable_key"] == "pk_test_another00000001"
    cleared = await client.patch(path(account_id, processor_id), json={"publishable_key": None}, headers=headers)
    assert cleared.json()["publishable_key"] is None


@pytest.mark.parametrize(
    ("publishable_key", "problem"),
    [
        (SECRET_KEY, "must be a Stripe publishable key"),
        ("pk_test_<script>", "must be a Stripe publishable key"),
        ("pk_live_51PkQaAbCdEfGhIjKlMnOp", "must be a test key"),
    ],
)
async def test_a_malformed_or_mismatched_publishable_key_is_refused(
    client: httpx.AsyncClient, merchant: tuple[str, str], publishable_key: str, problem: str
) -> None:
    account_id, secret = merchant
    refused = await client.post(
        f"/api/{account_id}/processors/",
        json={**STRIPE_BODY, "publishable_key": publishable_key},
        headers=bearer(secret),
    )

    assert refused.status_code == 422
    [detail] = refused.json()["detail"]
    assert detail["loc"] == ["body", "publishable_key"]
    assert problem in detail["msg"]


async def test_a_simulator_takes_no_publishable_key(client: httpx.AsyncClient, merchant: tuple[str, str]) -> None:
    account_id, secret = merchant
    refused = await client.post(
        f"/api/{account_id}/processors/",
        json={"name": "Sim", "type": "simulator", "publishable_key": PUBLISHABLE_KEY},
        headers=bearer(secret),
    )

    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "publishable_key"]
