"""Issue 16's table in one run: Checkstand beside the floor app (:mod:`bench.floor`), each a process of its own, one
uvicorn process each, driven by ``wrk -t2 -c32`` on the same 2-CPU machine.

Run: ``.venv/bin/python -m bench.table [--seconds 10] [--rounds 2] [--webhook-rounds 1]`` (needs ``wrk`` and the
PostgreSQL of the README). Each round measures, one after the other so that both see the same machine:

1. PostgreSQL: the floor's ``POST /rows``, then Checkstand's session create (2 prices, metadata), hosted page
   (``GET /c/{token}``), ``GET`` of one session with a key, the floor's ``GET /bare``, Checkstand's ``/healthz``,
   and paying: ``POST /api/public/checkout/{token}/confirm`` with the 4242 card, a different open session each
   request (a Lua script walks through the tokens of the sessions the create run made; a session paid twice would
   show as non-2xx), which completes it and creates its subscription;
2. SQLite: the floor's ``POST /rows`` (stdlib ``sqlite3``, WAL) and Checkstand's session create;
3. scaling: session create on PostgreSQL with ``checkstand serve --workers 2`` and with one process, when ``serve``
   has that option.

Then webhook delivery with 4 ``checkstand worker`` processes (:mod:`bench.webhooks_delivery`). The table shows each
measure's median over the rounds; every run is listed above it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field

import httpx
from tests.support import Server

from bench import webhooks_delivery
from bench.checkout_sessions import session_body
from bench.common import (
    WrkResult,
    floor_served,
    serve_has_workers_option,
    served,
    wrk_get,
    wrk_post,
    wrk_walk,
)

CONNECTIONS = 32
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}
CONFIRM_BODY = {"payment_method": {"card": CARD}, "customer": {"name": "Bench", "email": "bench@shop.example"}}
FLOOR_BODY = {"description": "bench", "metadata": {"order": "bench"}}
WARM_UP_SECONDS = 3


@dataclass
class Runs:
    """Every wrk run, by measure, in the order made."""

    results: dict[str, list[WrkResult]] = field(default_factory=dict)
    warm_up: bool = False

    def add(self, key: str, result: WrkResult) -> None:
        self.results.setdefault(key, []).append(result)
        print(f"| (warm-up) {result.row()[2:]}" if self.warm_up else result.row(), flush=True)

    def median(self, key: str) -> float | None:
        measured = self.results.get(key)
        return statistics.median(r.requests_per_second for r in measured) if measured else None


@dataclass
class Merchant:
    """What the API set up on one Checkstand: a session body (2 prices, metadata), and open sessions to show."""

    server: Server
    api: str
    body: dict[str, object]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.server.secret_key}"}

    def open_tokens(self) -> list[str]:
        """Every open session's token (a paid one is complete), newest first (the list's order)."""
        tokens: list[str] = []
        with httpx.Client(headers=self.headers, timeout=60) as http:
            offset = 0
            while True:
                page = http.get(
                    f"{self.api}/checkout-sessions/",
                    params={"limit": 100, "offset": offset, "filter": '{"state": "open"}'},
                ).json()
                tokens.extend(item["secure_token"] for item in page["items"])
                if not page["has_more"]:
                    return tokens
                offset += 100

    def one_session(self) -> tuple[str, str]:
        """A session made for the page and GET rows (never paid): its id and token."""
        with httpx.Client(headers=self.headers, timeout=60) as http:
            created = http.post(f"{self.api}/checkout-sessions/", json=self.body)
            created.raise_for_status()
            return str(created.json()["id"]), str(created.json()["secure_token"])

    def subscriptions(self) -> int:
        with httpx.Client(headers=self.headers, timeout=60) as http:
            return int(http.get(f"{self.api}/subscriptions/", params={"limit": 1}).json()["total"])


def _merchant(server: Server) -> Merchant:
    api, body = session_body(server)
    return Merchant(server, api, body)


def round_postgresql(runs: Runs, floor: str, merchant: Merchant, shown: tuple[str, str], seconds: int) -> None:
    server = merchant.server
    session_id, token = shown
    runs.add("floor_post_pg", wrk_post("floor POST /rows (asyncpg)", f"{floor}/rows", "", FLOOR_BODY, **_wrk(seconds)))
    runs.add(
        "create_pg",
        wrk_post(
            "Checkstand create session (PostgreSQL)",
            f"{merchant.api}/checkout-sessions/",
            server.secret_key,
            merchant.body,
            **_wrk(seconds),
        ),
    )
    runs.add("page", wrk_get("Checkstand GET /c/{token}", f"{server.base_url}/c/{token}", **_wrk(seconds)))
    runs.add(
        "get_one",
        wrk_get(
            "Checkstand GET session with a key",
            f"{merchant.api}/checkout-sessions/{session_id}",
            secret=server.secret_key,
            **_wrk(seconds),
        ),
    )
    runs.add("floor_bare", wrk_get("floor GET /bare", f"{floor}/bare", **_wrk(seconds)))
    runs.add("healthz", wrk_get("Checkstand GET /healthz", f"{server.base_url}/healthz", **_wrk(seconds)))
    tokens = [t for t in merchant.open_tokens() if t != token]
    before = merchant.subscriptions()
    runs.add(
        "pay",
        wrk_walk(
            f"Checkstand pay (4242), {len(tokens)} open sessions to walk",
            server.base_url,
            [f"/api/public/checkout/{t}/confirm" for t in tokens],
            CONFIRM_BODY,
            **_wrk(seconds),
        ),
    )
    print(f"  subscriptions created by the pay run: {merchant.subscriptions() - before}", flush=True)


def _wrk(seconds: int) -> dict[str, int]:
    return {"seconds": seconds, "connections": CONNECTIONS}


def round_sqlite(runs: Runs, floor: str, merchant: Merchant, seconds: int) -> None:
    runs.add(
        "floor_post_sqlite",
        wrk_post("floor POST /rows (sqlite3)", f"{floor}/rows", "", FLOOR_BODY, **_wrk(seconds)),
    )
    runs.add(
        "create_sqlite",
        wrk_post(
            "Checkstand create session (SQLite)",
            f"{merchant.api}/checkout-sessions/",
            merchant.server.secret_key,
            merchant.body,
            **_wrk(seconds),
        ),
    )


def round_scaling(runs: Runs, one: Merchant, two: Merchant, seconds: int) -> None:
    for key, merchant, label in (("scale_1", one, "1 process"), ("scale_2", two, "--workers 2")):
        runs.add(
            key,
            wrk_post(
                f"Checkstand create session (PostgreSQL, {label})",
                f"{merchant.api}/checkout-sessions/",
                merchant.server.secret_key,
                merchant.body,
                **_wrk(seconds),
            ),
        )


def measure(args: argparse.Namespace) -> tuple[Runs, list[webhooks_delivery.Round], bool]:
    runs = Runs()
    print(f"load average before: {_load()}\n", flush=True)
    print("| run | requests/s | p50 ms | p99 ms | non-2xx |")
    print("| --- | ---: | ---: | ---: | ---: |", flush=True)
    with ExitStack() as stack:
        floor = stack.enter_context(floor_served("postgresql"))
        merchant = _merchant(stack.enter_context(served("postgresql")))
        shown = merchant.one_session()
        # Untimed: imports, caches, pools and the first statistics are paid once, not by round 1.
        round_postgresql(Runs(warm_up=True), floor, merchant, shown, WARM_UP_SECONDS)
        for _ in _rounds(args.rounds):
            round_postgresql(runs, floor, merchant, shown, args.seconds)
    with ExitStack() as stack:
        floor = stack.enter_context(floor_served("sqlite"))
        merchant = _merchant(stack.enter_context(served("sqlite")))
        round_sqlite(Runs(warm_up=True), floor, merchant, WARM_UP_SECONDS)
        for _ in _rounds(args.rounds):
            round_sqlite(runs, floor, merchant, args.seconds)
    scaling = serve_has_workers_option()
    if scaling:
        with ExitStack() as stack:
            one = _merchant(stack.enter_context(served("postgresql")))
            two = _merchant(stack.enter_context(served("postgresql", workers=2)))
            round_scaling(Runs(warm_up=True), one, two, WARM_UP_SECONDS)
            for _ in _rounds(args.rounds):
                round_scaling(runs, one, two, args.seconds)
    deliveries: list[webhooks_delivery.Round] = []
    if args.webhook_rounds:
        hooks = argparse.Namespace(events=2000, rate=50, seconds=10, rounds=args.webhook_rounds, concurrency=32)
        deliveries = webhooks_delivery.run(
            hooks, (4,), on_round=lambda r: print(f"webhooks, 4 workers: {r.row()}", flush=True)
        )
    print(f"\nload average after: {_load()}", flush=True)
    return runs, deliveries, scaling


def _rounds(count: int) -> Iterator[int]:
    for number in range(1, count + 1):
        print(f"| round {number} | | | | |", flush=True)
        yield number


def _load() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def table(runs: Runs, deliveries: list[webhooks_delivery.Round], scaling: bool) -> list[str]:
    def rate(key: str) -> str:
        value = runs.median(key)
        return "-" if value is None else f"{value:,.0f}"

    def ratio(key: str, floor_key: str) -> str:
        value, floor = runs.median(key), runs.median(floor_key)
        return "-" if value is None or not floor else f"{value / floor:.2f}x"

    def row(name: str, floor_key: str, key: str, target: str) -> str:
        return f"| {name} | {rate(floor_key)} | {rate(key)} | {ratio(key, floor_key)} | {target} |"

    lines = [
        "| measure (1 process, 32 connections) | floor | Checkstand | ratio | target |",
        "|---|---:|---:|---:|---:|",
        row("create a session (2 prices, metadata), PostgreSQL", "floor_post_pg", "create_pg", ">= 0.25x"),
        row("the same on SQLite", "floor_post_sqlite", "create_sqlite", ">= 0.25x"),
        row("hosted page `GET /c/{token}` (PostgreSQL)", "floor_post_pg", "page", ">= 0.25x"),
        row("`GET` one session with a key (PostgreSQL)", "floor_post_pg", "get_one", ">= 0.40x"),
        row("`/healthz` (no database I/O) vs a bare `GET` on the floor app", "floor_bare", "healthz", ">= 0.30x"),
        row(
            "pay: confirm with 4242, session completes, subscription created (PostgreSQL)",
            "floor_post_pg",
            "pay",
            ">= 0.08x",
        ),
    ]
    if deliveries:
        per_second = statistics.median(r.per_second for r in deliveries)
        p99 = statistics.median(r.p99_ms for r in deliveries)
        lines.append(
            f"| webhooks delivered, 4 workers, PostgreSQL | - | {per_second:,.0f} ev/s, commit to arrival p99 "
            f"{p99:,.0f} ms | - | >= 1,000 ev/s, p99 <= 1 s |"
        )
    if scaling:
        lines.append(
            "| scaling: `checkstand serve --workers 2` vs 1 (session create, PostgreSQL) "
            f"| {rate('scale_1')} | {rate('scale_2')} | {ratio('scale_2', 'scale_1')} | >= 1.6x |"
        )
    else:
        lines.append(
            "| scaling: `checkstand serve --workers 2` vs 1 (session create, PostgreSQL) "
            "| n/a (needs --workers) | | | >= 1.6x |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="times each measure is taken, alternating")
    parser.add_argument("--webhook-rounds", type=int, default=1, help="webhook throughput runs (0: skip)")
    args = parser.parse_args()
    runs, deliveries, scaling = measure(args)
    print(
        f"\nwrk -t2 -c{CONNECTIONS} -d{args.seconds}s, {args.rounds} round(s); medians of the rounds. "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load average {_load()}.\n"
    )
    for line in table(runs, deliveries, scaling):
        print(line)


if __name__ == "__main__":
    main()
