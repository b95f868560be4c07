"""Concurrent complete, expire and add-line-item requests on one session, against a real server."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.conftest import bearer
from tests.support import Server


def _make_free_session(server: Server, secret: str, account_id: str) -> str:
    api = f"{server.base_url}/api/{account_id}"
    with httpx.Client(headers=bearer(secret), timeout=30) as http:
        product = http.post(f"{api}/products/", json={"name": "Free sample"}).json()
        price = http.post(
            f"{api}/prices/", json={"product_id": product["id"], "currency": "usd", "unit_amount_atom": 0}
        ).json()
        created = http.post(
            f"{api}/checkout-sessions/",
            json={
                "success_url": "https://shop.example/ok",
                "return_url": "https://shop.example/cart",
                "line_items": [{"price_id": price["id"]}],
            },
        )
        assert created.status_code == 201, created.text
        return str(created.json()["id"]), str(price["id"])  # type: ignore[return-value]


def test_one_final_state_whatever_the_race(server: Server) -> None:
    account_id, secret = server.new_account()
    checkout_id, price_id = _make_free_session(server, secret, account_id)  # type: ignore[misc]
    path = f"{server.base_url}/api/{account_id}/checkout-sessions/{checkout_id}"
    actions = ["complete", "expire", "add"] * 8
    barrier = threading.Barrier(len(actions))

    def act(action: str) -> tuple[str, int]:
        with httpx.Client(headers=bearer(secret), timeout=60) as http:
            barrier.wait()
            if action == "complete":
                return action, http.put(f"{path}/complete").status_code
            if action == "expire":
                return action, http.post(f"{path}/expire").status_code
            return action, http.post(f"{path}/line-items", json={"price_id": price_id}).status_code

    with ThreadPoolExecutor(max_workers=len(actions)) as pool:
        outcomes = Counter(pool.map(act, actions))

    finished = outcomes[("complete", 200)] + outcomes[("expire", 200)]
    assert finished == 1, outcomes
    assert set(outcomes) <= {
        ("complete", 200),
        ("complete", 409),
        ("expire", 200),
        ("expire", 409),
        ("add", 201),
        ("add", 409),
    }, outcomes
    with httpx.Client(headers=bearer(secret), timeout=30) as http:
        final = http.get(path).json()
        events = http.get(f"{server.base_url}/api/{account_id}/events/", params={"limit": 100}).json()["items"]
    assert final["state"] == ("success" if outcomes[("complete", 200)] else "expired")
    assert len(final["line_items"]) == 1 + outcomes[("add", 201)]
    mine = [e["type"] for e in events if e["aggregate_id"] == checkout_id]
    assert mine.count("checkout_session.completed") + mine.count("checkout_session.expired") == 1
