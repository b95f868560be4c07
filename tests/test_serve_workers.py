"""``checkstand serve --workers 2`` on PostgreSQL, as a real process: two serving processes on one port, each with its
background worker, and all of them gone after SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from checkstand.heartbeats.models import WorkerHeartbeat
from tests import support

STARTED = re.compile(r"Started server process \[(\d+)\]")


@pytest.fixture
def postgres_database() -> Iterator[str]:
    name = support.unique_name("cs_workers")
    yield support.create_postgres_database(name)
    support.drop_postgres_database(name)


def _heartbeat_pids(database_url: str) -> set[int]:
    async def read() -> set[int]:
        database = support.connect_url(database_url)
        try:
            async with database.reading() as session:
                return set(await session.scalars(select(WorkerHeartbeat.pid)))
        finally:
            await database.dispose()

    return asyncio.run(read())


def _parent_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^PPid:\s+(\d+)$", status, re.MULTILINE).group(1))  # type: ignore[union-attr]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_serve_with_two_workers_runs_two_serving_processes_and_stops_on_sigterm(
    tmp_path: Path, postgres_database: str
) -> None:
    port = support.free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "checkstand", "serve", "--port", str(port), "--workers", "2"],
        env=support.server_env(tmp_path, postgres_database),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    output: list[str] = []
    drain = threading.Thread(target=lambda: output.extend(process.stdout or ()), daemon=True)
    try:
        deadline = time.monotonic() + 90
        while "Secret key:" not in "".join(output):
            line = process.stdout.readline()
            assert line, "serve exited:\n" + "".join(output)
            output.append(line)
            assert time.monotonic() < deadline
        secret = support.SECRET_LINE.search("".join(output)).group(1)  # type: ignore[union-attr]
        account = support.DEMO_ACCOUNT_LINE.search("".join(output)).group(1)  # type: ignore[union-attr]
        drain.start()
        serving: set[int] = set()
        while len(serving) < 2:
            assert time.monotonic() < deadline, "two processes did not start:\n" + "".join(output)
            time.sleep(0.2)
            serving = {int(pid) for pid in STARTED.findall("".join(output))}
        base = f"http://127.0.0.1:{port}"
        up = None
        while up is None or up.status_code != 200:
            assert time.monotonic() < deadline
            with contextlib.suppress(httpx.TransportError):
                up = httpx.get(f"{base}/healthz", timeout=2)

        # Each connection is taken by whichever process accepts it first: every one is served.
        headers = {"Authorization": f"Bearer {secret}"}
        for index in range(20):
            created = httpx.post(
                f"{base}/api/{account}/products/", json={"name": f"Product {index}"}, headers=headers, timeout=10
            )
            assert created.status_code in (200, 201), created.text
        listed = httpx.get(f"{base}/api/{account}/products/?limit=100", headers=headers, timeout=10)
        assert listed.json()["total"] == 20
        assert all(_parent_of(pid) == process.pid for pid in serving)
        # Each process runs its own background worker, which records its pid in its heartbeat.
        while _heartbeat_pids(postgres_database) != serving:
            assert time.monotonic() < deadline, _heartbeat_pids(postgres_database)
            time.sleep(0.2)
        # The demo account is made once, by the parent, before any process serves.
        assert "".join(output).count("Demo account:") == 1

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert not any(_alive(pid) for pid in serving)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        drain.join(timeout=5)
