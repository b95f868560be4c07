"""Webhook delivery on PostgreSQL: events delivered per second with 1 and 4 ``checkstand worker`` processes, and the
delay from an event's commit to its arrival at a local receiver (p50, p99).

Run: ``.venv/bin/python -m bench.webhooks_delivery [--events 2000] [--rate 50] [--seconds 10] [--rounds 2]
[--concurrency 32]``.
Needs the PostgreSQL of the README. The receiver (:mod:`bench.webhooks_receiver`) and the workers are processes of
their own, as in production. After an untimed warm-up, rounds alternate 1 and 4 workers, so both see the same
machine.

- Throughput: ``--events`` events committed in one transaction, then timed until the last one has arrived.
- Delay: events committed one per transaction at ``--rate`` per second for ``--seconds``; each one's arrival time
  minus its commit time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from tests import support
from tests.webhooks.harness import Parcel, parcel_event

from checkstand import migrations
from checkstand.accounts import service as accounts
from checkstand.core.crypto import SecretBox
from checkstand.db import Database
from checkstand.webhooks import endpoints

SECRET_KEY = "bench-secret-key-of-at-least-32-bytes"  # encrypts the throwaway database of one run


@dataclass(frozen=True)
class Round:
    workers: int
    per_second: float
    p50_ms: float
    p99_ms: float
    duplicates: int

    def row(self) -> str:
        return (
            f"| {self.workers} | {self.per_second:,.0f} | {self.p50_ms:.0f} | {self.p99_ms:.0f} | {self.duplicates} |"
        )


@contextmanager
def workers(count: int, database_url: str, data_dir: Path, concurrency: int) -> Iterator[None]:
    """``count`` worker processes, each up (it has logged "worker started") before this yields."""
    env = support.server_env(
        data_dir,
        database_url,
        CHECKSTAND_SECRET_KEY=SECRET_KEY,
        CHECKSTAND_LOG_LEVEL="info",
        CHECKSTAND_WEBHOOK_CONCURRENCY=str(concurrency),
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "checkstand", "worker"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(count)
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            while "worker started" not in process.stdout.readline():
                assert process.poll() is None, "worker exited"
            threading.Thread(target=process.stdout.read, daemon=True).start()
        yield
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)


def arrivals(base: str) -> dict[str, float]:
    stats: dict[str, float] = httpx.get(f"{base}/stats", timeout=30).json()["arrivals"]
    return stats


def duplicates(base: str) -> int:
    return int(httpx.get(f"{base}/stats", timeout=30).json()["duplicates"])


def wait_for(base: str, ids: set[str]) -> dict[str, float]:
    deadline = time.monotonic() + 600
    while True:
        seen = arrivals(base)
        if ids <= seen.keys():
            return seen
        assert time.monotonic() < deadline, f"{len(ids - seen.keys())} never arrived"
        time.sleep(0.1)


async def commit_batch(database: Database, account_id: str, count: int) -> tuple[set[str], float]:
    async with database.writing() as session:
        ids = {(await parcel_event(session, account_id, Parcel())).id for _ in range(count)}
        await session.commit()
    return ids, time.time()


async def commit_paced(database: Database, account_id: str, rate: float, seconds: float) -> dict[str, float]:
    committed: dict[str, float] = {}
    start = time.monotonic()
    for n in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
        async with database.writing() as session:
            event = await parcel_event(session, account_id, Parcel())
            await session.commit()
        committed[event.id] = time.time()
    return committed


async def measure(
    count: int, database_url: str, data_dir: Path, base: str, account_id: str, args: argparse.Namespace
) -> Round:
    database = support.connect_url(database_url)
    try:
        with workers(count, database_url, data_dir, args.concurrency):
            ids, committed_at = await commit_batch(database, account_id, args.events)
            seen = wait_for(base, ids)
            per_second = len(ids) / (max(seen[i] for i in ids) - committed_at)
            committed = await commit_paced(database, account_id, args.rate, args.seconds)
            seen = wait_for(base, set(committed))
    finally:
        await database.dispose()
    delays = sorted((seen[i] - committed[i]) * 1000 for i in committed)
    percentiles = statistics.quantiles(delays, n=100, method="inclusive")
    return Round(count, per_second, percentiles[49], percentiles[98], duplicates(base))


async def warm_up(database_url: str, data_dir: Path, base: str, account_id: str, concurrency: int) -> None:
    database = support.connect_url(database_url)
    try:
        with workers(1, database_url, data_dir, concurrency):
            ids, _ = await commit_batch(database, account_id, 500)
            wait_for(base, ids)
    finally:
        await database.dispose()


async def prepare(database_url: str, data_dir: Path) -> tuple[str, str, str]:
    """An account and an endpoint (all events) pointing at a receiver yet to start: its port is chosen now."""
    port = support.free_port()
    database = support.connect_url(database_url)
    try:
        async with database.writing() as session:
            account = await accounts.create_account(session, name="Bench")
            created = await endpoints.create_endpoint(
                session,
                account.id,
                url=f"http://127.0.0.1:{port}/hooks",
                events=["*"],
                description="bench",
                box=SecretBox(SECRET_KEY),
                allow_private_urls=True,  # the receiver is on loopback; the workers allow it too (server_env)
            )
            await session.commit()
    finally:
        await database.dispose()
    return account.id, created.secret, str(port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args()
    rounds = run(args, (1, 4), on_round=lambda measured: print(measured.row(), flush=True))
    print(f"\n{args.events} events per throughput run; {args.rate:g}/s for {args.seconds:g} s per delay run.")
    print(f"Machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}.")
    print("\n| workers | delivered/s | commit to arrival p50 (ms) | p99 (ms) | duplicates |")
    print("| --- | --- | --- | --- | --- |")
    for measured in rounds:
        print(measured.row())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32, help="deliveries in flight per worker")


def run(args: argparse.Namespace, worker_counts: tuple[int, ...], on_round: Callable[[Round], None]) -> list[Round]:
    """``args.rounds`` rounds, each measuring every one of ``worker_counts`` in turn, on a fresh database."""
    name = support.unique_name("cs_bench_hooks")
    database_url = support.create_postgres_database(name)
    rounds: list[Round] = []
    try:
        migrations.upgrade(support.async_url(database_url))
        with tempfile.TemporaryDirectory() as directory:
            data_dir = Path(directory)
            account_id, secret, port = asyncio.run(prepare(database_url, data_dir))
            with receiver_on(port, secret) as base:
                # Untimed: the first run on fresh tables also pays for PostgreSQL's first statistics and caches.
                asyncio.run(warm_up(database_url, data_dir, base, account_id, args.concurrency))
                for _ in range(args.rounds):
                    for count in worker_counts:
                        rounds.append(asyncio.run(measure(count, database_url, data_dir, base, account_id, args)))
                        on_round(rounds[-1])
    finally:
        support.drop_postgres_database(name)
    return rounds


@contextmanager
def receiver_on(port: str, secret: str) -> Iterator[str]:
    process = subprocess.Popen([sys.executable, "-m", "bench.webhooks_receiver", "--port", port, "--secret", secret])
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/stats", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "receiver did not start"
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    main()
