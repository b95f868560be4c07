"""What the benchmarks share: a real ``checkstand serve`` per backend, and wrk driving it."""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

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
def served(backend: str) -> Iterator[support.Server]:
    """A fresh server on ``backend`` ("sqlite" or "postgresql"), without the worker (only requests are measured)."""
    with tempfile.TemporaryDirectory() as directory:
        data_dir = Path(directory)
        if backend == "sqlite":
            with support.run_server(data_dir, None, no_worker=True, CHECKSTAND_LOG_LEVEL="warning") as server:
                yield server
            return
        name = support.unique_name("cs_bench")
        url = support.create_postgres_database(name)
        try:
            with support.run_server(data_dir, url, no_worker=True, CHECKSTAND_LOG_LEVEL="warning") as server:
                yield server
        finally:
            support.drop_postgres_database(name)


def wrk_post(label: str, url: str, secret: str, body: object, *, seconds: int, connections: int) -> WrkResult:
    """POST ``body`` as fast as ``connections`` keep-alive connections allow, for ``seconds``."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT.format(body=json.dumps(body), secret=secret))
    output = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script.name, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    Path(script.name).unlink()
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
