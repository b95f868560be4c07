"""Webhooks go to public addresses only unless the operator allows otherwise, on both backends: refused at creation
(an address literal, localhost) and again at delivery, once the name is resolved, by the connection itself; the
address connected to is the one checked (no second resolution for DNS rebinding to answer)."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpcore
import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.app import create_app
from checkstand.core.clock import FrozenClock
from checkstand.core.crypto import SecretBox
from checkstand.db import Database
from checkstand.settings import Settings
from checkstand.webhooks import egress
from checkstand.webhooks import endpoints as webhook_endpoints
from checkstand.webhooks.models import WebhookDelivery
from checkstand.worker import Worker
from tests.conftest import bearer
from tests.webhooks.harness import Parcel, Receiver, parcel_event, quick

Merchant = tuple[str, str]
REFUSED_AT_CREATION = [
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/",
    "http://192.0.0.192/",
    "http://127.0.0.1:9000/in",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://localhost:8000/",
    "http://api.localhost/",
    "http://10.0.0.7/",
    "http://192.168.1.1/",
    "http://0.0.0.0/",
    "http://224.0.0.1/",
]


@pytest.fixture
def strict(settings: Settings) -> Settings:
    """The default an operator gets: private webhook URLs refused."""
    return settings.model_copy(update={"webhook_allow_private_urls": False})


@pytest.fixture
async def strict_client(strict: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(strict, database=database)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://checkstand.test") as http:
        yield http


def resolving(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> list[str]:
    """Make ``anyio.getaddrinfo`` answer ``answers`` (name -> addresses); returns the names asked, in order."""
    asked: list[str] = []

    async def getaddrinfo(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        asked.append(host)
        return [
            (socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
            for address in answers[host]
        ]

    monkeypatch.setattr(egress.anyio, "getaddrinfo", getaddrinfo)
    return asked


def test_the_default_refuses_private_urls() -> None:
    assert Settings().webhook_allow_private_urls is False


async def test_private_and_metadata_urls_are_refused_at_creation_and_on_change(
    strict_client: httpx.AsyncClient, merchant: Merchant
) -> None:
    account_id, key = merchant
    path = f"/api/{account_id}/webhook-endpoints/"
    for url in REFUSED_AT_CREATION:
        refused = await strict_client.post(path, json={"url": url, "events": ["*"]}, headers=bearer(key))

        assert refused.status_code == 422, (url, refused.text)
        (problem,) = refused.json()["detail"]
        assert (problem["loc"], problem["type"]) == (["body", "url"], "url_not_public")
        assert "CHECKSTAND_WEBHOOK_ALLOW_PRIVATE_URLS" in problem["msg"]
    public = await strict_client.post(
        path, json={"url": "https://hooks.merchant.example/in", "events": ["*"]}, headers=bearer(key)
    )
    assert public.status_code == 201
    changed = await strict_client.patch(
        f"{path}{public.json()['id']}", json={"url": "http://169.254.169.254/"}, headers=bearer(key)
    )
    assert changed.status_code == 422
    listed = await strict_client.get(path, headers=bearer(key))
    assert [endpoint["url"] for endpoint in listed.json()["items"]] == ["https://hooks.merchant.example/in"]


async def test_the_operator_may_allow_private_urls(client: httpx.AsyncClient, merchant: Merchant) -> None:
    account_id, key = merchant
    created = await client.post(
        f"/api/{account_id}/webhook-endpoints/",
        json={"url": "http://127.0.0.1:9000/in", "events": ["*"]},
        headers=bearer(key),
    )

    assert created.status_code == 201


async def test_a_name_resolving_to_a_private_address_is_refused_at_delivery_and_recorded(
    strict: Settings,
    database: Database,
    session: AsyncSession,
    merchant: Merchant,
    receiver: Receiver,
    frozen_clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A public-looking name that resolves to loopback (the receiver is there): nothing reaches it, and the
    attempt says why."""
    asked = resolving(monkeypatch, {"hooks.merchant.example": ["127.0.0.1"]})
    created = await webhook_endpoints.create_endpoint(
        session,
        merchant[0],
        url=f"http://hooks.merchant.example:{receiver.port}/hooks",
        events=["*"],
        description=None,
        box=SecretBox(*strict.at_rest_keys),
    )
    await parcel_event(session, merchant[0], Parcel())
    await session.commit()

    await Worker(database, quick(strict)).run_once()

    assert receiver.arrived == []
    assert "hooks.merchant.example" in asked
    attempts = await webhook_endpoints.delivery_attempts(
        session, merchant[0], *await _first_delivery(session, created.endpoint.id)
    )
    assert attempts[0].response_status is None
    assert attempts[0].error is not None
    assert "refused: hooks.merchant.example resolves to 127.0.0.1, a loopback address" in attempts[0].error


async def _first_delivery(session: AsyncSession, endpoint_id: str) -> tuple[str, str]:
    delivery = await session.scalar(
        select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id).order_by(WebhookDelivery.event_seq)
    )
    assert delivery is not None
    return delivery.event_id, delivery.id


class RecordingBackend(httpcore.AsyncNetworkBackend):
    """Stands in for the network: records where it was asked to connect."""

    def __init__(self) -> None:
        self.connected: list[tuple[str, int]] = []

    async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        self.connected.append((host, port))
        return httpcore.AsyncNetworkStream()

    async def sleep(self, seconds: float) -> None:
        return None


async def test_the_connection_goes_to_the_address_that_was_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Resolved once, checked, then connected to by address: a resolver that would answer loopback the second
    time (DNS rebinding) is never asked a second time."""
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])
    asked: list[str] = []

    async def rebinding(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in next(answers)]

    monkeypatch.setattr(egress.anyio, "getaddrinfo", rebinding)
    inner = RecordingBackend()

    await egress.PublicOnlyBackend(inner).connect_tcp("hooks.merchant.example", 443)

    assert (asked, inner.connected) == (["hooks.merchant.example"], [("93.184.216.34", 443)])


async def test_a_name_with_any_private_address_is_refused_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    resolving(monkeypatch, {"mixed.example": ["93.184.216.34", "169.254.169.254"]})
    inner = RecordingBackend()

    with pytest.raises(httpcore.ConnectError, match=re.escape("169.254.169.254, a link-local address")):
        await egress.PublicOnlyBackend(inner).connect_tcp("mixed.example", 80)
    with pytest.raises(httpcore.ConnectError, match="is this machine"):
        await egress.PublicOnlyBackend(inner).connect_tcp("localhost", 80)

    assert inner.connected == []
