"""What webhook tests share: a real receiver, quick retry settings, and a tiny object to record events about."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

import httpx
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from checkstand.core.ids import new_id
from checkstand.events.models import Event
from checkstand.events.service import record_event
from checkstand.events.types import EventType
from checkstand.settings import Settings
from tests.support import free_port


@dataclass
class Parcel:
    """A test-only aggregate: events about it need no other module's tables."""

    aggregate_type: ClassVar[str] = "parcel"

    id: str = field(default_factory=lambda: new_id("parcel"))
    state: str = "new"

    def snapshot(self) -> dict[str, Any]:
        return {"id": self.id, "state": self.state}


async def parcel_event(
    session: AsyncSession,
    account_id: str,
    parcel: Parcel,
    type: str = "parcel.packed",
    before: dict[str, Any] | None = None,
) -> Event:
    # A test-only aggregate's types are declared nowhere: the declared list is what the service records.
    event = await record_event(session, account_id=account_id, type=cast(EventType, type), obj=parcel, before=before)
    assert event is not None
    return event


def quick(settings: Settings, **overrides: Any) -> Settings:
    """Retries in seconds instead of days, so a test moves the clock by minutes (Standard Webhooks receivers
    refuse a timestamp more than 5 minutes from their own clock)."""
    values: dict[str, Any] = {
        "webhook_retry_base_seconds": 2.0,
        "webhook_retry_max_delay_seconds": 8.0,
        "webhook_retry_window_seconds": 60.0,
        "webhook_disable_after_seconds": 120.0,
        "webhook_lease_seconds": 30.0,
        "webhook_concurrency": 8,
    }
    values.update(overrides)
    return settings.model_copy(update=values)


async def create_endpoint(
    client: httpx.AsyncClient, account_id: str, secret: str, url: str, events: list[str] | None = None
) -> dict[str, Any]:
    response = await client.post(
        f"/api/{account_id}/webhook-endpoints/",
        json={"url": url, "events": events or ["*"]},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


@dataclass(frozen=True)
class Received:
    webhook_id: str
    payload: dict[str, Any]
    verified_by: frozenset[str]
    signatures: int


class Receiver:
    """A webhook receiver on a free loopback port, served by aiohttp in a thread of its own (so sync and async
    tests alike can use it). It verifies every request with ``standardwebhooks`` against the secrets it trusts,
    dedupes on ``webhook-id`` as a receiver should, and can be told to fail, hang, or go away and come back."""

    def __init__(self) -> None:
        self.port = free_port()
        self.trusted: list[str] = []
        self.arrived: list[str] = []
        self.holding = 0  # requests held open right now
        self.received: list[Received] = []
        self.processed: dict[str, dict[str, Any]] = {}
        # Ids that came again after this receiver had acknowledged them: a sender must make that rare; here, never.
        self.after_ack: list[str] = []
        self._status = 200
        self._answer = "ok"
        self._hang = False
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._released = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def trust(self, *secrets: str) -> None:
        with self._lock:
            self.trusted = list(secrets)

    def answer(self, status: int = 200, body: str = "ok") -> None:
        with self._lock:
            self._status, self._answer, self._hang = status, body, False
        self._loop.call_soon_threadsafe(self._released.set)

    def hang(self) -> None:
        """Hold every request open until :meth:`answer`, which then answers it."""
        with self._lock:
            self._hang = True
        self._loop.call_soon_threadsafe(self._released.clear)

    def start(self) -> None:
        self._call(self._start())

    def go_away(self) -> None:
        """Close the port: senders get connection refused until :meth:`start`."""
        self._call(self._stop())

    def close(self) -> None:
        self.go_away()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def ids(self) -> list[str]:
        with self._lock:
            return [r.webhook_id for r in self.received]

    def wait_until(self, condition: Callable[[Receiver], bool], timeout: float = 30) -> None:
        """For tests whose sender is another process: wait for what it should do, not for a time."""
        deadline = time.monotonic() + timeout
        while not condition(self):
            assert time.monotonic() < deadline, f"receiver never saw that; received {len(self.received)}"
            time.sleep(0.02)

    def _call(self, work: Any) -> None:
        asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout=15)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5, handler_cancellation=True)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def _stop(self) -> None:
        self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        webhook_id = headers.get("webhook-id", "")
        with self._lock:
            self.arrived.append(webhook_id)
            hang = self._hang
        if hang:
            # Cancelled here if the sender hangs up (timed out, or died): such a request is never processed.
            with self._lock:
                self.holding += 1
            try:
                await self._released.wait()
            finally:
                with self._lock:
                    self.holding -= 1
        with self._lock:
            trusted, status, answer = list(self.trusted), self._status, self._answer
        verified = frozenset(secret for secret in trusted if _verifies(secret, body, headers))
        if not verified:
            status, answer = 400, "signature does not verify"
        payload: dict[str, Any] = json.loads(body)
        signatures = len(headers.get("webhook-signature", "").split())
        with self._lock:
            self.received.append(Received(webhook_id, payload, verified, signatures))
            if 200 <= status < 300:
                if webhook_id in self.processed:
                    self.after_ack.append(webhook_id)
                else:
                    self.processed[webhook_id] = payload
        return web.Response(status=status, text=answer)


def _verifies(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    try:
        Webhook(secret).verify(body, headers)
    except WebhookVerificationError:
        return False
    return True


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.close()
