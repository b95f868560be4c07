"""The hosted checkout page: the server's time to render it, beside its JSON view, and what a first visit transfers.

Run: ``.venv/bin/python -m bench.checkout_page [--requests 1000]``. For each backend a fresh server holds one open
session (one line item, the simulator connected, an accent colour set). Then:

- **render time**: sequential GETs on one keep-alive loopback connection, alternating the page (``/c/{token}``), the
  JSON view of the same session (``/api/public/checkout/{token}``) and ``/healthz`` (no database: the floor that
  uvicorn, FastAPI and this client cost every request), so all three see the same machine. A request's time is from
  sending it to its last byte, as the client sees it.
- **first visit**: the page, then every stylesheet, script and image it references on this server, each body's
  size as served, gzip-compressed (level 6), and whether the server compressed it.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
from tests.support import Server

from bench.common import served

ACCENT = "#4f46e5"
# Asked for as a browser does, to see whether the server compresses anything.
BROWSER_HEADERS = {"Accept-Encoding": "gzip, deflate, br", "Accept-Language": "en-US,en;q=0.9"}


@dataclass(frozen=True)
class Timing:
    label: str
    millis: list[float]

    def row(self, backend: str, reference: float) -> str:
        p50 = statistics.median(self.millis)
        p99 = statistics.quantiles(self.millis, n=100)[98]
        return f"| {backend} | {self.label} | {p50:.2f} | {p99:.2f} | {p50 / reference:.1f} |"


@dataclass(frozen=True)
class Transfer:
    backend: str
    kind: str
    path: str
    raw: int
    gzipped: int
    content_encoding: str

    def row(self) -> str:
        return (
            f"| {self.backend} | {self.kind} | `{self.path}` | {self.raw:,} | {self.gzipped:,} "
            f"| {self.content_encoding} |"
        )


class _References(HTMLParser):
    """The stylesheets, scripts and images a page makes a browser fetch, as ``(kind, url)``."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "link" and named.get("rel") == "stylesheet" and named.get("href"):
            self.found.append(("CSS", str(named["href"])))
        elif tag == "script" and named.get("src"):
            self.found.append(("JS", str(named["src"])))
        elif tag == "img" and named.get("src"):
            self.found.append(("image", str(named["src"])))


def _open_session(server: Server) -> str:
    """One open session through the API, as a merchant makes it; its secure token."""
    api = f"{server.base_url}/api/{server.account_id}"
    with httpx.Client(headers={"Authorization": f"Bearer {server.secret_key}"}, timeout=30) as http:
        http.post(f"{api}/processors/", json={"name": "Simulator", "type": "simulator"}).raise_for_status()
        http.patch(
            f"{server.base_url}/api/accounts/{server.account_id}/brand-settings", json={"accent_color": ACCENT}
        ).raise_for_status()
        product = http.post(f"{api}/products/", json={"name": "Pro plan"}).json()["id"]
        price = http.post(
            f"{api}/prices/",
            json={"product_id": product, "currency": "usd", "unit_amount_atom": 1500, "recurring_interval": "month"},
        ).json()["id"]
        created = http.post(
            f"{api}/checkout-sessions/",
            json={
                "success_url": "https://shop.example/thanks?cs={CHECKOUT_SESSION_ID}",
                "return_url": "https://shop.example/cart",
                "line_items": [{"price_id": price}],
            },
        )
        created.raise_for_status()
        return str(created.json()["secure_token"])


def time_requests(server: Server, token: str, requests: int) -> list[Timing]:
    paths = {
        "checkout page `GET /c/{token}`": f"/c/{token}",
        "JSON view `GET /api/public/checkout/{token}`": f"/api/public/checkout/{token}",
        "floor `GET /healthz`": "/healthz",
    }
    millis: dict[str, list[float]] = {label: [] for label in paths}
    with httpx.Client(base_url=server.base_url, headers=BROWSER_HEADERS, timeout=30) as http:
        for round_number in range(requests + requests // 10):
            for label, path in paths.items():
                started = time.perf_counter()
                response = http.get(path)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    raise RuntimeError(f"{path}: {response.status_code}")
                # The first tenth warms the server (imports, template compilation, connection pools).
                if round_number >= requests // 10:
                    millis[label].append(elapsed)
    return [Timing(label, values) for label, values in millis.items()]


def first_visit(backend: str, server: Server, token: str) -> list[Transfer]:
    """The page and what it references on this server; other hosts' assets (the merchant's logo) are not ours."""
    origin = urlsplit(server.base_url).netloc
    with httpx.Client(headers=BROWSER_HEADERS, timeout=30) as http:
        page_url = f"{server.base_url}/c/{token}"
        page = http.get(page_url)
        parser = _References()
        parser.feed(page.text)
        transfers = [_transfer(backend, "HTML", page, token)]
        for kind, reference in parser.found:
            url = urljoin(page_url, reference)
            if urlsplit(url).netloc == origin:
                transfers.append(_transfer(backend, kind, http.get(url), token))
    return transfers


def _transfer(backend: str, kind: str, response: httpx.Response, token: str) -> Transfer:
    response.raise_for_status()
    return Transfer(
        backend=backend,
        kind=kind,
        path=response.url.path.replace(token, "{token}"),
        raw=len(response.content),
        gzipped=len(gzip.compress(response.content, compresslevel=6, mtime=0)),
        content_encoding=response.headers.get("content-encoding", "none"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000, help="timed requests per path and backend")
    args = parser.parse_args()
    timings: list[str] = []
    transfers: list[Transfer] = []
    for backend in ("sqlite", "postgresql"):
        with served(backend) as server:
            token = _open_session(server)
            measured = time_requests(server, token, args.requests)
            reference = statistics.median(measured[1].millis)
            timings.extend(timing.row(backend, reference) for timing in measured)
            transfers.extend(first_visit(backend, server, token))
    print(f"{args.requests} timed requests per path, one keep-alive loopback connection, worker off\n")
    print("| backend | request | p50 ms | p99 ms | p50 / JSON view |")
    print("| --- | --- | ---: | ---: | ---: |")
    print("\n".join(timings))
    print("\nFirst visit (body bytes as served; the content-encoding the server answered a browser's request with):\n")
    print("| backend | kind | path | bytes | gzip -6 bytes | content-encoding |")
    print("| --- | --- | --- | ---: | ---: | --- |")
    for transfer in transfers:
        print(transfer.row())
    for backend in ("sqlite", "postgresql"):
        for kind in ("HTML", "CSS", "JS"):
            chosen = [transfer for transfer in transfers if (transfer.backend, transfer.kind) == (backend, kind)]
            raw = sum(transfer.raw for transfer in chosen)
            gzipped = sum(transfer.gzipped for transfer in chosen)
            print(f"| {backend} | **{kind} total** | {len(chosen)} file(s) | {raw:,} | {gzipped:,} | |")


if __name__ == "__main__":
    main()
