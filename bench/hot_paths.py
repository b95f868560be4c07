"""The request paths every merchant hits, loaded one after the other on one server, with an optional profile.

Run: ``.venv/bin/python -m bench.hot_paths [--backend postgresql] [--seconds 5] [--connections 32]
[--profile DIR]`` (needs ``wrk``). It starts a fresh ``checkstand serve --no-worker``, makes a product with a monthly
and a one-time price and one open session, then drives with ``wrk -t2``: ``GET /healthz``, ``GET`` the session with
the key, the hosted page ``GET /c/{token}`` and ``POST`` a session (two prices, metadata). ``--profile DIR`` records
each run with ``py-spy record`` (installed by hand, for profiling only) into ``DIR/<path>.txt`` (collapsed stacks).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

import httpx

from bench.checkout_sessions import _prepare
from bench.common import WrkResult, _find, _millis, served

_HEADERS_SCRIPT = """
wrk.method = "{method}"
wrk.body = [[{body}]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {secret}"
"""


def _wrk(label: str, url: str, script: str, *, seconds: int, connections: int) -> WrkResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    output = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", file.name, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    Path(file.name).unlink()
    return WrkResult(
        label=label,
        requests_per_second=float(_find(r"Requests/sec:\s+([\d.]+)", output)),
        p50_ms=_millis(_find(r"\s50%\s+([\d.]+\w+)", output)),
        p99_ms=_millis(_find(r"\s99%\s+([\d.]+\w+)", output)),
        non_2xx=int(_find(r"Non-2xx or 3xx responses:\s+(\d+)", output, default="0")),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", default="postgresql", choices=("sqlite", "postgresql"))
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--only", nargs="*", default=None, help="run only these paths (healthz, get, page, create)")
    parser.add_argument("--profile", type=Path, default=None)
    args = parser.parse_args()
    with served(args.backend) as server:
        api, body = _prepare(server)
        created = httpx.post(
            f"{api}/checkout-sessions/", json=body, headers={"Authorization": f"Bearer {server.secret_key}"}
        ).json()
        token = created["url"].rsplit("/", 1)[-1]
        get = _HEADERS_SCRIPT.format(method="GET", body="", secret=server.secret_key)
        post = _HEADERS_SCRIPT.format(method="POST", body=json.dumps(body), secret=server.secret_key)
        runs = {
            "healthz": (f"{server.base_url}/healthz", get),
            "get": (f"{api}/checkout-sessions/{created['id']}", get),
            "page": (f"{server.base_url}/c/{token}", get),
            "create": (f"{api}/checkout-sessions/", post),
        }
        print(f"{args.backend}: wrk -t2 -c{args.connections} -d{args.seconds}s, one uvicorn process, worker off\n")
        print("| run | requests/s | p50 ms | p99 ms | non-2xx |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for name, (url, script) in runs.items():
            if args.only and name not in args.only:
                continue
            spy = None
            if args.profile is not None:
                args.profile.mkdir(parents=True, exist_ok=True)
                spy = subprocess.Popen(
                    [
                        ".venv/bin/py-spy",
                        "record",
                        "--format",
                        "raw",
                        "-o",
                        str(args.profile / f"{name}.txt"),
                        "--pid",
                        str(server.process.pid),
                        "--duration",
                        str(args.seconds),
                        "-r",
                        "50",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            result = _wrk(name, url, script, seconds=args.seconds, connections=args.connections)
            if spy is not None:
                spy.wait()
            print(result.row(), flush=True)


if __name__ == "__main__":
    main()
