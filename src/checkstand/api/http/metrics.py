"""``GET /metrics`` in Prometheus' text format, and the middleware that counts requests.

Requests are labelled by their route's template (``/c/{token}``), never by their path: tokens live in paths, and a
label per path would grow without bound. What this process counted comes from prometheus-client's registry; what
the deployment shares (the webhook queue, the workers' heartbeats) is read from the database at scrape time, so any
process answers it right however many run.

Off by default (``CHECKSTAND_METRICS=off`` answers 404); ``on`` serves it to anyone who can reach it (a private
network); ``token`` asks for ``Authorization: Bearer`` with ``CHECKSTAND_METRICS_TOKEN``.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Final

from fastapi import Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from checkstand.api.http.unit_of_work import Session
from checkstand.core import clock
from checkstand.core.errors import NotAuthenticated, NotFound
from checkstand.heartbeats import service as heartbeats
from checkstand.observability.metrics import HTTP_REQUEST_DURATION, HTTP_REQUESTS
from checkstand.settings import Settings
from checkstand.webhooks import service as deliveries

PATH: Final = "/metrics"
UNMATCHED: Final = "unmatched"  # no route answered (a 404 before routing, or a request refused at the edge)


class RequestMetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            route = route_template(scope)
            HTTP_REQUESTS.labels(scope["method"], route, str(status)).inc()
            HTTP_REQUEST_DURATION.labels(scope["method"], route).observe(time.perf_counter() - started)


def route_template(scope: Scope) -> str:
    """The template of the route that answered (``/api/{account_id}/customers/``), never the request's path."""
    route = scope.get("route")
    if isinstance(route, Mount):
        return f"{route.path}/{{path}}"
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


async def metrics(request: Request, session: Session) -> Response:
    settings: Settings = request.app.state.settings
    if settings.metrics == "off":
        raise NotFound("route", PATH)
    if settings.metrics == "token":
        _check_token(request, settings)
    shared = CollectorRegistry()
    shared.register(_Snapshot(await _shared_state(session)))
    return Response(generate_latest(REGISTRY) + generate_latest(shared), media_type=CONTENT_TYPE_LATEST)


def _check_token(request: Request, settings: Settings) -> None:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = settings.metrics_token or ""
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise NotAuthenticated("GET /metrics needs Authorization: Bearer <CHECKSTAND_METRICS_TOKEN>.")


class _Snapshot(Collector):
    """Families computed before the scrape (the database is read asynchronously; collectors are synchronous)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


async def _shared_state(session: AsyncSession) -> list[Metric]:
    now = clock.now()
    queue = await deliveries.delivery_queue(session, now)
    queue_depth = GaugeMetricFamily(
        "checkstand_webhook_queue_depth",
        "Pending webhook deliveries, by whether they are due now or waiting for a retry.",
        labels=["state"],
    )
    queue_depth.add_metric(["due"], queue.due)
    queue_depth.add_metric(["waiting"], queue.pending - queue.due)
    oldest_age = GaugeMetricFamily(
        "checkstand_webhook_queue_oldest_age_seconds",
        "Age of the oldest pending webhook delivery (0 when none is pending).",
        value=_seconds_since(queue.oldest_created_at, now),
    )
    overdue = GaugeMetricFamily(
        "checkstand_webhook_queue_overdue_seconds",
        "How long the most overdue pending delivery has been due: how far the workers are behind (0 when none).",
        value=_seconds_since(queue.earliest_due_at, now),
    )
    heartbeat_age = GaugeMetricFamily(
        "checkstand_worker_heartbeat_age_seconds",
        "Seconds since each worker last recorded a heartbeat (a worker that stops cleanly is removed).",
        labels=["worker", "hostname"],
    )
    for beat in await heartbeats.all_heartbeats(session):
        heartbeat_age.add_metric([beat.worker_id, beat.hostname], _seconds_since(beat.beat_at, now))
    return [queue_depth, oldest_age, overdue, heartbeat_age]


def _seconds_since(moment: datetime | None, now: datetime) -> float:
    return 0.0 if moment is None else max(0.0, (now - clock.as_utc(moment)).total_seconds())
