"""``GET /metrics``: off by default, open or behind a bearer token when the operator says so, and parsed here with
prometheus-client's own parser as Prometheus would."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.app import create_app
from checkstand.checkout.models import CheckoutSession
from checkstand.core.clock import FrozenClock
from checkstand.core.crypto import SecretBox
from checkstand.db import Database
from checkstand.settings import Settings
from checkstand.webhooks import endpoints
from checkstand.webhooks.models import WebhookEndpoint
from checkstand.worker import Worker
from tests.conftest import bearer
from tests.shop import Shop

TOKEN = "metrics-scraper-token-0123456789"


@asynccontextmanager
async def serving(settings: Settings, database: Database, **changes: object) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update=changes), database=database)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://checkstand.test") as http:
        yield http


def samples(text: str) -> dict[str, list[Sample]]:
    by_name: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            by_name.setdefault(sample.name, []).append(sample)
    return by_name


def value(found: dict[str, list[Sample]], name: str, match: Callable[[dict[str, str]], bool] = lambda _: True) -> float:
    return sum(sample.value for sample in found.get(name, []) if match(sample.labels))


async def test_off_unless_enabled(client: httpx.AsyncClient) -> None:
    assert (await client.get("/metrics")).status_code == 404


async def test_token_mode_wants_the_bearer_token(settings: Settings, database: Database) -> None:
    async with serving(settings, database, metrics="token", metrics_token=TOKEN) as http:
        assert (await http.get("/metrics")).status_code == 401
        assert (await http.get("/metrics", headers=bearer("not-the-token"))).status_code == 401
        scraped = await http.get("/metrics", headers=bearer(TOKEN))
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")


async def test_requests_by_route_template_never_by_path(
    settings: Settings, database: Database, opened: CheckoutSession
) -> None:
    async with serving(settings, database, metrics="on") as http:
        before = samples((await http.get("/metrics")).text)
        assert (await http.get(f"/c/{opened.secure_token}")).status_code == 200
        assert (await http.get("/c/unknown-token")).status_code == 404
        assert (await http.get("/no/such/route")).status_code == 404
        text = (await http.get("/metrics")).text
    assert opened.secure_token not in text
    assert "unknown-token" not in text
    found = samples(text)

    def page(status: str) -> Callable[[dict[str, str]], bool]:
        return lambda labels: labels == {"method": "GET", "route": "/c/{token}", "status": status}

    for status in ("200", "404"):
        grown = value(found, "checkstand_http_requests_total", page(status))
        assert grown - value(before, "checkstand_http_requests_total", page(status)) == 1
    unmatched = value(found, "checkstand_http_requests_total", lambda labels: labels["route"] == "unmatched")
    assert unmatched >= 1
    latency = value(
        found, "checkstand_http_request_duration_seconds_count", lambda labels: labels["route"] == "/c/{token}"
    )
    assert latency >= 2


async def test_shared_state_is_read_from_the_database(
    settings: Settings, database: Database, session: AsyncSession, shop: Shop, frozen_clock: FrozenClock
) -> None:
    await endpoints.create_endpoint(
        session, shop.account_id, url="https://hooks.example/in", events=["*"], description=None, box=_box(settings)
    )
    await session.commit()
    worker = Worker(database, settings)
    await worker.beat()
    async with serving(settings, database, metrics="on") as http:
        # Recording an event fans it out: a product created through the API queues one delivery.
        created = await http.post(
            f"/api/{shop.account_id}/products/", json={"name": "Queued"}, headers=bearer(shop.secret)
        )
        assert created.status_code in (200, 201), created.text
        frozen_clock.advance(timedelta(seconds=30))
        found = samples((await http.get("/metrics")).text)
    due = value(found, "checkstand_webhook_queue_depth", lambda labels: labels["state"] == "due")
    assert due >= 1
    assert value(found, "checkstand_webhook_queue_oldest_age_seconds") >= 30
    assert value(found, "checkstand_webhook_queue_overdue_seconds") >= 30
    ages = found["checkstand_worker_heartbeat_age_seconds"]
    assert [(s.labels["worker"], s.value) for s in ages] == [(worker.id, 30.0)]


async def test_a_failed_delivery_is_counted_and_logged_without_its_url_secrets(
    settings: Settings, database: Database, session: AsyncSession, shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    created = await endpoints.create_endpoint(
        session, shop.account_id, url="https://hooks.example/in", events=["*"], description=None, box=_box(settings)
    )
    # Written past the service: where the receiver lives is beside the point, only that it refuses.
    await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == created.endpoint.id)
        .values(url="http://127.0.0.1:9/hooks/path-secret?token=query-secret")
    )
    await session.commit()
    async with serving(settings, database, metrics="on") as http:
        product = await http.post(
            f"/api/{shop.account_id}/products/", json={"name": "Queued"}, headers=bearer(shop.secret)
        )
        assert product.status_code in (200, 201), product.text
        before = samples((await http.get("/metrics")).text)
        with caplog.at_level(logging.WARNING, logger="checkstand.webhooks.delivery"):
            await Worker(database, settings.model_copy(update={"webhook_timeout_seconds": 2.0})).run_once()
        after = samples((await http.get("/metrics")).text)

    def retrying(labels: dict[str, str]) -> bool:
        return labels == {"outcome": "retrying"}

    grown = value(after, "checkstand_webhook_deliveries_total", retrying)
    assert grown - value(before, "checkstand_webhook_deliveries_total", retrying) >= 1
    warnings = [r for r in caplog.records if r.name == "checkstand.webhooks.delivery"]
    assert warnings
    for warning in warnings:
        assert warning.levelno == logging.WARNING
        line = warning.getMessage()
        assert created.endpoint.id in line
        assert "http://127.0.0.1:9 failed" in line
        assert "retried later" in line
        assert "path-secret" not in line
        assert "query-secret" not in line
        assert created.secret not in line


def _box(settings: Settings) -> SecretBox:
    return SecretBox(*settings.at_rest_keys)
