"""A receiver of Paid-dialect webhooks for tests: a plain HTTP server on a free loopback port that keeps every
request as it came, and an implementation of Paid's signature check of its own (hmac and base64 from the standard
library), independent of the server's code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support import free_port


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def envelope(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


class Receiver:
    """A plain HTTP server on a free loopback port that keeps every request; ``/fail`` answers 500, any other path
    ``status`` (200 unless a test changes it)."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.status = 200
        received = self.deliveries
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                received.append(Delivery(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(500 if self.path == "/fail" else receiver.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hooks") -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def wait_for(self, wanted: Callable[[Delivery], bool], timeout: float = 30) -> Delivery:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for delivery in list(self.deliveries):
                if wanted(delivery):
                    return delivery
            time.sleep(0.05)
        raise AssertionError(f"no such delivery among {self.deliveries}")


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    running = Receiver()
    try:
        yield running
    finally:
        running.server.shutdown()
        running.server.server_close()


def verifies(delivery: Delivery, secret: str, now: datetime | None = None) -> bool:
    """Paid's scheme: ``x-webhook-signature: t=<unix ms>,s=<base64 HMAC-SHA256 of "{t}.{raw body}">``, with ``t``
    within 5 minutes of ``now`` (the real time unless given)."""
    fields = dict(part.split("=", 1) for part in delivery.headers["x-webhook-signature"].split(","))
    timestamp = fields["t"]
    now_ms = (now.timestamp() if now is not None else time.time()) * 1000
    assert abs(int(timestamp) - now_ms) < 5 * 60 * 1000, "a fresh timestamp, in milliseconds"
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + delivery.body, hashlib.sha256).digest()
    return hmac.compare_digest(base64.b64encode(expected).decode(), fields["s"])
