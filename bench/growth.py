"""Growth: does Checkstand answer as fast with a million checkout sessions behind it as on an empty database?

Run: ``.venv/bin/python -m bench.growth [--sessions 1000000] [--seconds 5] [--rounds 2]`` (needs ``wrk`` and the
PostgreSQL of the README; about 2 GB of disk for the seeded database, dropped at the end).

Two fresh PostgreSQL databases, each migrated by ``checkstand migrate`` and served by its own ``checkstand serve
--no-worker``. On each, through the API: a product with 2 prices, a webhook endpoint (never called: no worker runs),
an open session and a paid one. On the seeded one, bulk SQL (``INSERT ... SELECT`` over ``generate_series``) then
copies those rows a million times: sessions (a quarter paid, with their payment; the rest expired), two line items
each, a ``checkout_session.created`` event each and its delivered webhook delivery, spread over the past year; then
``ANALYZE`` and a restart of its server. Every measure then runs on the empty database and the seeded one in turn,
``--rounds`` times, with ``wrk -t2 -c32``: session create, the hosted page, the first page of the sessions, events
and payments lists, a deep page of the sessions list (offset 500,000) and webhook claiming (in process, as a
worker does: the idle poll, then a claim of 32 from a backlog of 2,000 due deliveries, rolled back each time).
Last, the plans (``EXPLAIN ANALYZE``) of the list queries on the seeded database, as the services run them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import event
from tests import support

from bench.checkout_sessions import session_body
from bench.common import WrkResult, run_checkstand, wrk_get, wrk_post
from checkstand.checkout import service as checkout_service
from checkstand.core.crypto import SecretBox
from checkstand.core.listing import ListParams
from checkstand.core.pagination import PageParams
from checkstand.events import service as events_service
from checkstand.payments import ledger
from checkstand.webhooks import delivery

SECRET_KEY = "bench-growth-secret-key-of-at-least-32-bytes"  # encrypts the throwaway databases of one run
CONNECTIONS = 32
DEEP_OFFSET = 500_000
BACKLOG = 2_000
CLAIMS = 100
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}


@dataclass
class Shop:
    """One database, its server and what the API made on it."""

    name: str
    url: str
    data_dir: Path
    port: int
    secret: str = ""
    account_id: str = ""
    api: str = ""
    body: dict[str, object] = field(default_factory=dict)
    open_id: str = ""
    paid_id: str = ""
    token: str = ""
    endpoint_id: str = ""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def migrate(url: str, data_dir: Path) -> None:
    env = support.server_env(data_dir, url, CHECKSTAND_SECRET_KEY=SECRET_KEY)
    subprocess.run([sys.executable, "-m", "checkstand", "migrate"], env=env, check=True, capture_output=True)


@contextmanager
def serving(shop: Shop) -> Iterator[support.Server]:
    """Its server; the first start prints the demo account's key, which later starts (after seeding) don't."""
    with run_checkstand(
        shop.data_dir,
        shop.url,
        port=shop.port,
        CHECKSTAND_SECRET_KEY=SECRET_KEY,
        CHECKSTAND_LOG_LEVEL="warning",
    ) as server:
        shop.account_id = server.account_id
        shop.secret = shop.secret or server.secret_key
        yield server


def set_up(shop: Shop, server: support.Server) -> None:
    """Through the API, as a merchant: what the seed copies, and the session whose page is measured."""
    shop.api, shop.body = session_body(server)
    with httpx.Client(headers={"Authorization": f"Bearer {shop.secret}"}, timeout=60) as http:
        endpoint = http.post(
            f"{shop.api}/webhook-endpoints/", json={"url": "http://127.0.0.1:9/hooks", "events": ["*"]}
        )
        endpoint.raise_for_status()
        shop.endpoint_id = endpoint.json()["id"]
        opened = http.post(f"{shop.api}/checkout-sessions/", json=shop.body)
        opened.raise_for_status()
        shop.open_id, shop.token = opened.json()["id"], opened.json()["secure_token"]
        paid = http.post(f"{shop.api}/checkout-sessions/", json=shop.body)
        paid.raise_for_status()
        shop.paid_id = paid.json()["id"]
        confirm = http.post(
            f"{shop.base_url}/api/public/checkout/{paid.json()['secure_token']}/confirm",
            json={"payment_method": {"card": CARD}, "customer": {"name": "Seed", "email": "seed@shop.example"}},
        )
        confirm.raise_for_status()
        assert confirm.json()["state"] == "succeeded", confirm.json()


# --- The seed: copies of the API's rows, by bulk SQL -----------------------------------------------------------------

# The g-th copy's time: spread over the past year, oldest first, all before anything the bench makes.
AT = "(now() - interval '1 day' - interval '30 seconds' * ({count} - g))"


async def clone(
    connection: asyncpg.Connection, table: str, source: str, where: str, changes: dict[str, str | None]
) -> int:
    """Copy the rows of ``table`` that ``source``/``where`` select (alias ``t``), every column as it is but those in
    ``changes`` (an SQL expression; ``None``: left to its default). Whatever columns other migrations add are
    copied too, so the seed keeps up with the schema."""
    columns = [
        row["column_name"]
        for row in await connection.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position", table
        )
    ]
    unknown = set(changes) - set(columns)
    assert not unknown, f"{table} has no {unknown}"
    kept = [column for column in columns if changes.get(column, "") is not None]
    values = [changes.get(column) or f't."{column}"' for column in kept]
    names = ", ".join(f'"{column}"' for column in kept)
    status = await connection.execute(
        f"INSERT INTO {table} ({names}) SELECT {', '.join(values)} FROM {source} WHERE {where}"
    )
    return int(status.split()[-1])


async def seed(shop: Shop, count: int) -> dict[str, float]:
    """The million copies; the seconds each table took."""
    at = AT.format(count=count)
    took: dict[str, float] = {}
    connection = await asyncpg.connect(shop.url)
    try:
        event_id, delivery_id = await _templates(connection, shop)
        payment_id = await connection.fetchval("SELECT id FROM payments WHERE checkout_session_id = $1", shop.paid_id)
        series = f"generate_series(1, {count}) AS g"
        steps: list[tuple[str, Callable[[], Awaitable[int]]]] = [
            (
                "checkout_sessions",
                lambda: clone(
                    connection,
                    "checkout_sessions",
                    f"checkout_sessions t, {series}",
                    f"t.id = '{shop.open_id}'",
                    {
                        "id": "'cs_seed' || g",
                        "secure_token": "'seed_' || md5(g::text)",
                        "status": "CASE WHEN g % 4 = 0 THEN 'success' ELSE 'expired' END",
                        "created_at": at,
                        "updated_at": at,
                        "expires_at": f"{at} + (t.expires_at - t.created_at)",
                        "expired_at": f"CASE WHEN g % 4 = 0 THEN NULL ELSE {at} + (t.expires_at - t.created_at) END",
                        "completed_at": f"CASE WHEN g % 4 = 0 THEN {at} + interval '5 minutes' END",
                        "succeeded_tier": "CASE WHEN g % 4 = 0 THEN 0 END",
                        "order_number": "NULL",
                    },
                ),
            ),
            (
                "checkout_line_items",
                lambda: clone(
                    connection,
                    "checkout_line_items",
                    f"checkout_line_items t, {series}",
                    f"t.session_id = '{shop.open_id}'",
                    {
                        "id": "'cli_seed' || g || '_' || t.tier || '_' || t.position",
                        "session_id": "'cs_seed' || g",
                        "created_at": at,
                        "updated_at": at,
                    },
                ),
            ),
            (
                "payments",
                lambda: clone(
                    connection,
                    "payments",
                    f"payments t, {series}",
                    f"t.id = '{payment_id}' AND g % 4 = 0",
                    {
                        "id": "'pay_seed' || g",
                        "checkout_session_id": "'cs_seed' || g",
                        "invoice_id": "NULL",
                        "created_at": f"{at} + interval '5 minutes'",
                        "updated_at": f"{at} + interval '5 minutes'",
                        "confirmed_at": f"{at} + interval '5 minutes'",
                    },
                ),
            ),
            ("events", lambda: _events(connection, event_id, "seed", count, at)),
            ("webhook_deliveries", lambda: _deliveries(connection, delivery_id, "seed", delivered=True)),
        ]
        rebuild = await _drop_secondary(connection, [table for table, _ in steps])
        for table, step in steps:
            started = time.monotonic()
            copied = await step()
            took[table] = time.monotonic() - started
            print(f"  {table}: {copied:,} rows in {took[table]:.0f} s", flush=True)
        started = time.monotonic()
        for statement in rebuild:
            await connection.execute(statement)
        took["indexes and constraints"] = time.monotonic() - started
        print(f"  indexes and constraints rebuilt in {took['indexes and constraints']:.0f} s", flush=True)
        started = time.monotonic()
        await connection.execute("ANALYZE")
        took["ANALYZE"] = time.monotonic() - started
    finally:
        await connection.close()
    return took


async def _drop_secondary(connection: asyncpg.Connection, tables: list[str]) -> list[str]:
    """Drop the seeded tables' indexes and constraints but their primary keys (and foreign keys into them), which
    PostgreSQL builds far faster once over a million rows than row by row; the statements that put them back, in
    order (indexes, unique constraints, then foreign keys, which are checked then)."""
    constraints = await connection.fetch(
        "SELECT c.conname, c.conrelid::regclass::text AS owner, c.contype::text AS contype, "
        "pg_get_constraintdef(c.oid) AS definition "
        "FROM pg_constraint c WHERE c.contype IN ('f', 'u') AND (c.conrelid::regclass::text = ANY($1) "
        "OR (c.contype = 'f' AND c.confrelid::regclass::text = ANY($1))) ORDER BY c.contype",
        tables,
    )
    indexes = await connection.fetch(
        "SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition FROM pg_index i "
        "WHERE i.indrelid::regclass::text = ANY($1) AND NOT i.indisprimary AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
        tables,
    )
    # Foreign keys first ('f' sorts before 'u'): a unique constraint may be what one refers to.
    for constraint in constraints:
        await connection.execute(f'ALTER TABLE {constraint["owner"]} DROP CONSTRAINT "{constraint["conname"]}"')
    for index in indexes:
        await connection.execute(f"DROP INDEX {index['name']}")
    add = [
        f'ALTER TABLE {c["owner"]} ADD CONSTRAINT "{c["conname"]}" {c["definition"]}'
        for kind in ("u", "f")
        for c in constraints
        if c["contype"] == kind
    ]
    assert len(add) == len(constraints), "a constraint would not be put back"
    return [index["definition"] for index in indexes] + add


async def _templates(connection: asyncpg.Connection, shop: Shop) -> tuple[str, str]:
    """The open session's ``checkout_session.created`` event and its delivery to the endpoint."""
    event_id: str = await connection.fetchval(
        "SELECT id FROM events WHERE aggregate_id = $1 AND type = 'checkout_session.created'", shop.open_id
    )
    delivery_id: str = await connection.fetchval(
        "SELECT id FROM webhook_deliveries WHERE event_id = $1 AND endpoint_id = $2", event_id, shop.endpoint_id
    )
    return event_id, delivery_id


async def _events(connection: asyncpg.Connection, event_id: str, kind: str, count: int, at: str) -> int:
    # ``seq`` left to its sequence, in g's order: the older copy gets the smaller number, as in production.
    return await clone(
        connection,
        "events",
        f"events t, generate_series(1, {count}) AS g",
        f"t.id = '{event_id}' ORDER BY g",
        {"seq": None, "id": f"'evt_{kind}' || g", "aggregate_id": f"'cs_{kind}' || g", "created_at": at},
    )


async def _deliveries(connection: asyncpg.Connection, delivery_id: str, kind: str, *, delivered: bool) -> int:
    """A delivery of each copied event (``evt_{kind}...``): delivered long ago, or due now."""
    done = "e.created_at + interval '1 second'"
    state = (
        {
            "status": "'succeeded'",
            "attempt_count": "1",
            "next_attempt_at": "NULL",
            "last_attempt_at": done,
            "delivered_at": done,
            "response_status": "200",
            "updated_at": done,
        }
        if delivered
        else {
            "status": "'pending'",
            "attempt_count": "0",
            "next_attempt_at": "now() - interval '1 minute'",
            "last_attempt_at": "NULL",
            "delivered_at": "NULL",
            "response_status": "NULL",
            "updated_at": "e.created_at",
        }
    )
    return await clone(
        connection,
        "webhook_deliveries",
        "webhook_deliveries t JOIN events e ON e.id LIKE $$evt\\_" + kind + "%$$",
        f"t.id = '{delivery_id}'",
        {
            "id": f"'whd_{kind}' || substr(e.id, {len(kind) + 5})",
            "event_id": "e.id",
            "event_seq": "e.seq",
            "aggregate_id": "e.aggregate_id",
            "error": "NULL",
            "retrying_since": "NULL",
            "locked_until": "NULL",
            "locked_by": "NULL",
            "created_at": "e.created_at",
            **state,
        },
    )


async def deliver_all(shop: Shop) -> None:
    """Mark what the set-up and warm-up queued as delivered (no worker runs): the idle poll finds nothing due."""
    connection = await asyncpg.connect(shop.url)
    try:
        await connection.execute(
            "UPDATE webhook_deliveries SET status = 'succeeded', attempt_count = 1, next_attempt_at = NULL, "
            "last_attempt_at = now(), delivered_at = now(), response_status = 200 WHERE status = 'pending'"
        )
    finally:
        await connection.close()


async def add_backlog(shop: Shop) -> None:
    """``BACKLOG`` deliveries due now, each of its own aggregate: what a worker finds after an outage."""
    connection = await asyncpg.connect(shop.url)
    try:
        event_id, delivery_id = await _templates(connection, shop)
        await _events(connection, event_id, "backlog", BACKLOG, "now() - interval '1 minute'")
        await _deliveries(connection, delivery_id, "backlog", delivered=False)
        await connection.execute("ANALYZE webhook_deliveries, events")
    finally:
        await connection.close()


# --- Measures ---------------------------------------------------------------------------------------------------------


def http_measures(shop: Shop, seconds: int) -> list[tuple[str, Callable[[], WrkResult]]]:
    wrk = {"seconds": seconds, "connections": CONNECTIONS}
    key = {"secret": shop.secret, **wrk}
    sessions = f"{shop.api}/checkout-sessions/"
    return [
        ("session create", lambda: wrk_post("create", sessions, shop.secret, shop.body, **wrk)),
        ("hosted page `GET /c/{token}`", lambda: wrk_get("page", f"{shop.base_url}/c/{shop.token}", **wrk)),
        ("sessions list, first page", lambda: wrk_get("sessions", f"{sessions}?limit=20", **key)),
        ("events list, first page", lambda: wrk_get("events", f"{shop.api}/events/?limit=20", **key)),
        ("payments list, first page", lambda: wrk_get("payments", f"{shop.api}/payments/intents/?limit=20", **key)),
        (
            f"sessions list, offset {DEEP_OFFSET:,}",
            lambda: wrk_get("deep", f"{sessions}?limit=20&offset={DEEP_OFFSET}", **key),
        ),
    ]


async def claim_millis(shop: Shop) -> list[float]:
    """``CLAIMS`` claims of up to 32 deliveries, as a worker makes them, each rolled back (the rows stay due)."""
    database = support.connect_url(shop.url)
    box = SecretBox(SECRET_KEY)
    millis: list[float] = []
    try:
        for _ in range(CLAIMS):
            async with database.writing() as session:
                started = time.perf_counter()
                await delivery.claim(session, worker_id="bench", limit=32, lease=timedelta(seconds=30), box=box)
                millis.append((time.perf_counter() - started) * 1000)
                await session.rollback()
    finally:
        await database.dispose()
    return millis


async def plans(shop: Shop) -> list[str]:
    """``EXPLAIN ANALYZE`` of every statement the list services run for a first page and the deep page."""
    database = support.connect_url(shop.url)
    captured: list[tuple[str, Any]] = []

    @event.listens_for(database.engine.sync_engine, "before_cursor_execute")
    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        captured.append((statement, parameters))

    first, deep = ListParams(page=PageParams(20, 0)), ListParams(page=PageParams(20, DEEP_OFFSET))
    lines: list[str] = []
    try:
        for label, call in (
            ("sessions, first page", lambda s: checkout_service.list_sessions(s, shop.account_id, first)),
            ("events, first page", lambda s: events_service.list_events(s, shop.account_id, first)),
            ("payments, first page", lambda s: ledger.list_payments(s, shop.account_id, first)),
            (f"sessions, offset {DEEP_OFFSET:,}", lambda s: checkout_service.list_sessions(s, shop.account_id, deep)),
        ):
            captured.clear()
            async with database.reading() as session:
                await call(session)
            connection = await asyncpg.connect(shop.url)
            try:
                for statement, parameters in captured:
                    plan = await connection.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", *(parameters or ()))
                    lines.append(f"\n{label}:\n\n```\n{statement}\n{parameters}\n")
                    lines.extend(row[0] for row in plan)
                    lines.append("```")
            finally:
                await connection.close()
    finally:
        await database.dispose()
    return lines


@dataclass
class Results:
    runs: dict[tuple[str, str], list[WrkResult]] = field(default_factory=dict)
    claims: dict[tuple[str, str], list[float]] = field(default_factory=dict)

    def rate(self, measure: str, shop: str) -> float:
        return statistics.median(r.requests_per_second for r in self.runs[(measure, shop)])

    def p50(self, measure: str, shop: str) -> float:
        return statistics.median(r.p50_ms for r in self.runs[(measure, shop)])


def table(results: Results, measures: list[str], count: int) -> list[str]:
    lines = [
        f"| measure (wrk -t2 -c{CONNECTIONS}) | empty req/s | {count:,} sessions req/s | p50 ms empty | p50 ms seeded "
        "| slowdown (empty rate / seeded rate) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for measure in measures:
        empty, seeded = results.rate(measure, "empty"), results.rate(measure, "seeded")
        lines.append(
            f"| {measure} | {empty:,.0f} | {seeded:,.0f} | {results.p50(measure, 'empty'):.1f} "
            f"| {results.p50(measure, 'seeded'):.1f} | {_ratio(empty, seeded)} |"
        )
    for kind in ("idle poll (nothing due)", f"claim 32 of {BACKLOG:,} due"):
        empty = statistics.median(results.claims[(kind, "empty")])
        seeded = statistics.median(results.claims[(kind, "seeded")])
        lines.append(
            f"| webhook claim, {kind}, in process, p50 ms | | | {empty:.2f} | {seeded:.2f} | {_ratio(seeded, empty)} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=5, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    results = Results()
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        shops = {}
        for name in ("empty", "seeded"):
            database = support.unique_name(f"cs_growth_{name}")
            url = support.create_postgres_database(database)
            stack.callback(support.drop_postgres_database, database)
            shops[name] = Shop(name, url, directory / name, support.free_port())
            migrate(url, shops[name].data_dir)
            with serving(shops[name]) as server:
                set_up(shops[name], server)
        print(f"seeding {args.sessions:,} sessions (load average {_load()})", flush=True)
        started = time.monotonic()
        asyncio.run(seed(shops["seeded"], args.sessions))
        print(f"seeded in {time.monotonic() - started:.0f} s", flush=True)
        for shop in shops.values():
            stack.enter_context(serving(shop))
        for name, shop in shops.items():
            # Untimed: the first requests pay for imports, pools and caches.
            for _, run in http_measures(shop, 2):
                run()
            asyncio.run(deliver_all(shop))
            results.claims[("idle poll (nothing due)", name)] = asyncio.run(claim_millis(shop))
            asyncio.run(add_backlog(shop))
            results.claims[(f"claim 32 of {BACKLOG:,} due", name)] = asyncio.run(claim_millis(shop))
        measures: list[str] = []
        for round_number in range(1, args.rounds + 1):
            print(f"round {round_number} (load average {_load()})", flush=True)
            for index, (measure, _) in enumerate(http_measures(shops["empty"], args.seconds)):
                if round_number == 1:
                    measures.append(measure)
                for name, shop in shops.items():
                    result = http_measures(shop, args.seconds)[index][1]()
                    results.runs.setdefault((measure, name), []).append(result)
                    print(
                        f"  {name}: {measure}: {result.requests_per_second:,.0f}/s, p50 {result.p50_ms:.1f} ms, "
                        f"non-2xx {result.non_2xx}",
                        flush=True,
                    )
        plan_lines = asyncio.run(plans(shops["seeded"]))
    print(
        f"\n{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load average {_load()}; medians of "
        f"{args.rounds} round(s) of {args.seconds} s.\n"
    )
    for line in table(results, measures, args.sessions):
        print(line)
    print("\nPlans on the seeded database:")
    for line in plan_lines:
        print(line)


def _ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}x" if denominator else "- (nothing completed)"


def _load() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()
