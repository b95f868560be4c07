"""What the benchmarks share: a real ``checkstand serve`` per backend, and wrk driving it."""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from tests import support

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = [[{body}]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {secret}"
"""


@dataclass(frozen=True)
class WrkResult:
    label: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int

    def row(self) -> str:
        return (
            f"| {self.label} | {self.requests_per_second:,.0f} | {self.p50_ms:.1f} | {self.p99_ms:.1f} "
            f"| {self.non_2xx} |"
        )


@contextmanager
def served(backend: str, *, workers: int = 1) -> Iterator[support.Server]:
    """A fresh server on ``backend`` ("sqlite" or "postgresql"), without the worker (only requests are measured)."""
    with (
        tempfile.TemporaryDirectory() as directory,
        _database(backend, Path(directory)) as url,
        run_checkstand(Path(directory), url, workers=workers, CHECKSTAND_LOG_LEVEL="warning") as server,
    ):
        yield server


def run_checkstand(
    data_dir: Path, database_url: str | None, *, workers: int = 1, port: int | None = None, **extra_env: str
) -> AbstractContextManager[support.Server]:
    """``checkstand serve --no-worker`` in ``workers`` uvicorn processes, said even for one (the default on
    PostgreSQL is a process per core), when ``serve`` has ``--workers``; otherwise the one process it runs."""
    if serve_has_workers_option():
        return _run_with_workers(data_dir, database_url, workers, port, extra_env)
    if workers != 1:
        raise RuntimeError("this checkstand serve has no --workers option")
    return support.run_server(data_dir, database_url, no_worker=True, port=port, **extra_env)


@contextmanager
def _database(backend: str, directory: Path) -> Iterator[str | None]:
    """A fresh PostgreSQL database's URL, dropped afterwards; ``None`` on SQLite (a file in ``directory``)."""
    if backend == "sqlite":
        yield None
        return
    name = support.unique_name("cs_bench")
    url = support.create_postgres_database(name)
    try:
        yield url
    finally:
        support.drop_postgres_database(name)


@functools.cache
def serve_has_workers_option() -> bool:
    """Whether this Checkstand's ``serve`` takes ``--workers`` (issue 16's scaling row needs it)."""
    usage = subprocess.run(
        [sys.executable, "-m", "checkstand", "serve", "--help"], capture_output=True, text=True, check=True
    ).stdout
    return "--workers" in usage


@contextmanager
def _run_with_workers(
    data_dir: Path, database_url: str | None, workers: int, port: int | None, extra_env: dict[str, str]
) -> Iterator[support.Server]:
    port = port or support.free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "checkstand", "serve", "--port", str(port), "--workers", str(workers), "--no-worker"],
        env=support.server_env(data_dir, database_url, **extra_env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    base_url = f"http://127.0.0.1:{port}"
    try:
        # The banner, then /healthz, as tests.support.run_server waits for them.
        account_id, secret = support._wait_until_up(process, base_url, output)
        threading.Thread(target=support._read_rest, args=(process, output), daemon=True).start()
        url = database_url or support.sqlite_url(data_dir / "checkstand.db")
        yield support.Server(base_url, url, data_dir, account_id, secret, process, output)
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def floor_served(backend: str) -> Iterator[str]:
    """The floor app (:mod:`bench.floor`) on a fresh database of ``backend``, as a process of its own; its base URL."""
    with tempfile.TemporaryDirectory() as directory, _database(backend, Path(directory)) as url:
        port = support.free_port()
        database = url or support.sqlite_url(Path(directory) / "floor.db")
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.floor", "--database", database, "--port", str(port)],
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"{base_url}/bare", timeout=1).raise_for_status()
                    break
                except httpx.TransportError:
                    assert process.poll() is None, "the floor app exited"
                    assert time.monotonic() < deadline, "the floor app did not start"
                    time.sleep(0.1)
            yield base_url
        finally:
            process.terminate()
            process.wait(timeout=30)


def wrk_post(label: str, url: str, secret: str, body: object, *, seconds: int, connections: int) -> WrkResult:
    """POST ``body`` as fast as ``connections`` keep-alive connections allow, for ``seconds``."""
    script = WRK_SCRIPT.format(body=json.dumps(body), secret=secret)
    return wrk(label, url, script, seconds=seconds, connections=connections)


def wrk_get(label: str, url: str, *, seconds: int, connections: int, secret: str | None = None) -> WrkResult:
    """GET ``url`` as fast as ``connections`` keep-alive connections allow, with the key when given."""
    script = "" if secret is None else f'wrk.headers["Authorization"] = "Bearer {secret}"\n'
    return wrk(label, url, script, seconds=seconds, connections=connections)


# Each request POSTs ``body`` to the next path of a file (one a line), the two threads of ``wrk -t2`` taking every
# other one, so that no path is asked twice until the list runs out (then it starts over: those requests fail and
# show as non-2xx).
WRK_WALK_SCRIPT = """
local threads = 0
function setup(thread)
  thread:set("cursor", threads)
  threads = threads + 1
end
function init(args)
  paths = {{}}
  for line in io.lines("{paths}") do paths[#paths + 1] = line end
  wrk.method = "POST"
  wrk.body = [[{body}]]
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  local path = paths[cursor % #paths + 1]
  cursor = cursor + 2
  return wrk.format(nil, path)
end
"""


def wrk_walk(label: str, base_url: str, paths: list[str], body: object, *, seconds: int, connections: int) -> WrkResult:
    """POST ``body`` to each of ``paths`` once, in turn, as fast as ``connections`` connections allow."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as file:
        file.write("\n".join(paths) + "\n")
    try:
        script = WRK_WALK_SCRIPT.format(paths=file.name, body=json.dumps(body))
        return wrk(label, base_url + paths[0], script, seconds=seconds, connections=connections)
    finally:
        Path(file.name).unlink()


def wrk(label: str, url: str, script: str, *, seconds: int, connections: int) -> WrkResult:
    """wrk with two threads and ``script`` (Lua) against ``url``, for ``seconds``; what it printed, parsed."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    try:
        output = subprocess.run(
            # wrk's default timeout (2 s) would drop a slow request from the latencies instead of waiting for it.
            ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "60s", "--latency", "-s", file.name, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        Path(file.name).unlink()
    if errors := re.search(r"Socket errors:.*", output):
        print(f"  {label}: {errors.group(0)}", file=sys.stderr, flush=True)
    return WrkResult(
        label=label,
        requests_per_second=float(_find(r"Requests/sec:\s+([\d.]+)", output)),
        p50_ms=_millis(_find(r"\s50%\s+([\d.]+\w+)", output)),
        p99_ms=_millis(_find(r"\s99%\s+([\d.]+\w+)", output)),
        non_2xx=int(_find(r"Non-2xx or 3xx responses:\s+(\d+)", output, default="0")),
    )


def _find(pattern: str, text: str, default: str | None = None) -> str:
    match = re.search(pattern, text)
    if match is None:
        if default is not None:
            return default
        raise ValueError(f"wrk printed no {pattern!r}:\n{text}")
    return match.group(1)


def _millis(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
