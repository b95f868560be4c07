"""The ``payment-kit`` SDK's processor routes and default route calls against a real server; processors (which
the SDK has no client for) over plain HTTP; and races that a delete must not lose."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from payment_kit import PaymentKit
from payment_kit.core.api_error import ApiError
from payment_kit.errors.unprocessable_entity_error import UnprocessableEntityError
from payment_kit.types import RouteProcessor

from tests.conftest import bearer
from tests.support import Server

ROUNDS = 8


def http(server: Server, secret: str) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers=bearer(secret), timeout=30)


def connect(server: Server, account_id: str, secret: str, name: str = "Sim") -> str:
    with http(server, secret) as client:
        response = client.post(f"/api/{account_id}/processors/", json={"name": name, "type": "simulator"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_the_demo_account_has_a_simulator_connected(server: Server) -> None:
    with http(server, server.secret_key) as client:
        listed = client.get(f"/api/{server.account_id}/processors/", params={"filter": '{"type": "simulator"}'})
    assert listed.status_code == 200
    assert [(p["name"], p["is_active"], p["is_available"]) for p in listed.json()["items"]] == [
        ("Simulator", True, True)
    ]
    assert "usd" in listed.json()["items"][0]["currencies"]


def test_routes_through_the_sdk(server: Server) -> None:
    account_id, secret = server.new_account()
    client = PaymentKit(base_url=server.base_url, token=secret, timeout=30)
    first, second = connect(server, account_id, secret, "A"), connect(server, account_id, secret, "B")

    route = client.processor_routes.create_processor_route(
        account_id,
        name="Main",
        description="A then B",
        processors=[RouteProcessor(processor_id=first), RouteProcessor(processor_id=second, disposition="setup_only")],
    )
    assert route.id.startswith("proute_")
    assert [(p.processor_id, p.disposition) for p in route.processors] == [
        (first, "charge_and_setup"),
        (second, "setup_only"),
    ]
    assert route.created_at.tzinfo is not None
    assert client.processor_routes.get_processor_route(account_id, route.id) == route

    updated = client.processor_routes.update_processor_route(
        account_id, route.id, processors=[RouteProcessor(processor_id=second)]
    )
    assert (updated.name, updated.description) == ("Main", "A then B")
    assert [p.processor_id for p in updated.processors] == [second]
    listed = client.processor_routes.list_processor_routes(account_id, limit=10, offset=0)
    assert (listed.total, listed.limit, listed.offset) == (1, 10, 0)
    assert [r.id for r in listed.data] == [route.id]

    default = client.accounts.update_default_processor_route(account_id, default_processor_route_id=route.id)
    assert default.default_processor_route_id == route.id
    assert client.accounts.get_account(account_id).default_processor_route_id == route.id
    with pytest.raises(ApiError) as in_use:
        client.processor_routes.delete_processor_route(account_id, route.id)
    assert in_use.value.status_code == 409
    assert isinstance(in_use.value.body, dict)
    assert in_use.value.body["code"] == "route_in_use"

    cleared = client.accounts.update_default_processor_route(account_id, default_processor_route_id=None)
    assert cleared.default_processor_route_id is None
    assert client.processor_routes.delete_processor_route(account_id, route.id) is None
    with pytest.raises(ApiError) as gone:
        client.processor_routes.get_processor_route(account_id, route.id)
    assert gone.value.status_code == 404


def test_a_bad_route_is_an_sdk_validation_error(paymentkit: tuple[PaymentKit, str], server: Server) -> None:
    client, account_id = paymentkit
    other_account, other_secret = server.new_account()
    theirs = connect(server, other_account, other_secret)
    with pytest.raises(UnprocessableEntityError) as raised:
        client.processor_routes.create_processor_route(
            account_id, name="R", processors=[RouteProcessor(processor_id=theirs)]
        )
    detail = raised.value.body.detail
    assert detail is not None
    assert [list(problem.loc) for problem in detail] == [["body", "processors", 0, "processor_id"]]
    with pytest.raises(UnprocessableEntityError):
        client.accounts.update_default_processor_route(account_id, default_processor_route_id="proute_unknown")


def race(*calls: Callable[[httpx.Client], httpx.Response], server: Server, secret: str) -> list[httpx.Response]:
    """Each call on its own thread and connection, released together."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[httpx.Client], httpx.Response]) -> httpx.Response:
        with http(server, secret) as client:
            barrier.wait()
            return call(client)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def test_deleting_a_route_races_making_it_the_default(server: Server) -> None:
    """Whichever wins, the account's default never names a deleted route."""
    account_id, secret = server.new_account()
    processor = connect(server, account_id, secret)
    outcomes = set()
    for _ in range(ROUNDS):
        with http(server, secret) as client:
            route_id = client.post(
                f"/api/{account_id}/processor-routes/", json={"name": "R", "processors": [{"processor_id": processor}]}
            ).json()["id"]
        deleted, made_default = race(
            lambda c, r=route_id: c.delete(f"/api/{account_id}/processor-routes/{r}"),
            lambda c, r=route_id: c.patch(
                f"/api/accounts/{account_id}/default-processor-route", json={"default_processor_route_id": r}
            ),
            server=server,
            secret=secret,
        )
        outcomes.add((deleted.status_code, made_default.status_code))
        with http(server, secret) as client:
            default = client.get(f"/api/accounts/{account_id}").json()["default_processor_route_id"]
            exists = client.get(f"/api/{account_id}/processor-routes/{route_id}").status_code == 200
            if made_default.status_code == 200:
                assert (deleted.status_code, default, exists) == (409, route_id, True)
                assert client.patch(
                    f"/api/accounts/{account_id}/default-processor-route", json={"default_processor_route_id": None}
                ).is_success
            else:
                assert (deleted.status_code, made_default.status_code, exists) == (204, 422, False)
                assert default != route_id
    assert outcomes <= {(409, 200), (204, 422)}


def test_deleting_a_processor_races_putting_it_in_a_route(server: Server) -> None:
    """Whichever wins, no route names a deleted processor."""
    account_id, secret = server.new_account()
    for _ in range(ROUNDS):
        processor = connect(server, account_id, secret)
        deleted, routed = race(
            lambda c, p=processor: c.delete(f"/api/{account_id}/processors/{p}"),
            lambda c, p=processor: c.post(
                f"/api/{account_id}/processor-routes/", json={"name": "R", "processors": [{"processor_id": p}]}
            ),
            server=server,
            secret=secret,
        )
        with http(server, secret) as client:
            still_connected = client.get(f"/api/{account_id}/processors/{processor}").status_code == 200
        if routed.status_code == 201:
            assert (deleted.status_code, still_connected) == (409, True)
        else:
            assert (deleted.status_code, routed.status_code, still_connected) == (204, 422, False)
