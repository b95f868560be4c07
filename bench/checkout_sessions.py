"""Creating checkout sessions over HTTP, beside a baseline endpoint that inserts one row, on both backends.

Run: ``.venv/bin/python -m bench.checkout_sessions [--seconds 10] [--connections 32]`` (needs ``wrk``:
``apt-get install wrk``). Each backend gets a fresh server; the baseline and the session runs alternate, twice each,
so both see the same machine.
"""

from __future__ import annotations

import argparse

import httpx
from tests.support import Server

from bench.common import WrkResult, served, wrk_post


def session_body(server: Server) -> tuple[str, dict[str, object]]:
    """A product with a price, and the body of a realistic session (two line items)."""
    api = f"{server.base_url}/api/{server.account_id}"
    headers = {"Authorization": f"Bearer {server.secret_key}"}
    with httpx.Client(headers=headers, timeout=30) as http:
        product = http.post(f"{api}/products/", json={"name": "Pro plan"}).json()["id"]
        monthly = http.post(
            f"{api}/prices/",
            json={"product_id": product, "currency": "usd", "unit_amount_atom": 1500, "recurring_interval": "month"},
        ).json()["id"]
        addon = http.post(
            f"{api}/prices/", json={"product_id": product, "currency": "usd", "unit_amount_atom": 300}
        ).json()["id"]
    body = {
        "success_url": "https://shop.example/thanks?cs={CHECKOUT_SESSION_ID}",
        "return_url": "https://shop.example/cart",
        "line_items": [{"price_id": monthly, "quantity": 3}, {"price_id": addon}],
        "metadata": {"order": "bench"},
    }
    return api, body


def run(backend: str, seconds: int, connections: int) -> list[WrkResult]:
    results = []
    with served(backend) as server:
        api, body = session_body(server)
        for round_number in (1, 2):
            results.append(
                wrk_post(
                    f"{backend} baseline: create API key (one row) #{round_number}",
                    f"{server.base_url}/api/accounts/{server.account_id}/api-keys",
                    server.secret_key,
                    {"description": "bench"},
                    seconds=seconds,
                    connections=connections,
                )
            )
            results.append(
                wrk_post(
                    f"{backend} create checkout session #{round_number}",
                    f"{api}/checkout-sessions/",
                    server.secret_key,
                    body,
                    seconds=seconds,
                    connections=connections,
                )
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    print(f"wrk -t2 -c{args.connections} -d{args.seconds}s, one uvicorn process, worker off\n")
    print("| run | requests/s | p50 ms | p99 ms | non-2xx |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for backend in ("sqlite", "postgresql"):
        for result in run(backend, args.seconds, args.connections):
            print(result.row(), flush=True)


if __name__ == "__main__":
    main()
