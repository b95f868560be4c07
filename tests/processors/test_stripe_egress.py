"""A Stripe connection's ``api_base`` reaches public addresses over https only, unless the operator allows otherwise
(``CHECKSTAND_PROCESSOR_ALLOW_PRIVATE_URLS``), on both backends: refused when stored (an address literal,
``localhost``, plain http, credentials, a query or a fragment), and again on every request once the name is
resolved, before any connection is made. A refused request is the processor being unavailable, never a 500."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.app import create_app
from checkstand.core.crypto import SecretBox
from checkstand.core.errors import InvalidFields
from checkstand.core.ids import new_id
from checkstand.db import Database
from checkstand.events.models import Event
from checkstand.payments.models import ProcessorAttempt
from checkstand.processors import connections
from checkstand.processors.base import ChargeRequest, Outcome, OutcomeUnknown, PaymentMethod, customer_message
from checkstand.processors.models import Processor
from checkstand.processors.stripe import (
    METADATA_KEY,
    Delivery,
    StripeProcessor,
    StripeUnavailable,
    settle_delivery,
)
from checkstand.settings import Settings
from checkstand.webhooks import egress
from tests.conftest import bearer
from tests.payments import flow
from tests.shop import Shop

Merchant = tuple[str, str]
SECRET_KEY = "sk_test_egressCheck0123456789"
WEBHOOK_SECRET = "whsec_egressCheck0123456789"
PASSWORD = "hunter2pass"
SETTING = "CHECKSTAND_PROCESSOR_ALLOW_PRIVATE_URLS"
# Private by address: refused unless the operator allows them.
PRIVATE = ["http://127.0.0.1:8420", "http://169.254.169.254", "https://10.0.0.1", "https://[::1]:8420"]
REFUSED = [
    *((url, "url_not_public") for url in PRIVATE),
    ("https://localhost:8420", "url_not_public"),
    (f"https://merchant:{PASSWORD}@api.stripe.example", "url_credentials"),
    ("https://api.stripe.example/?debug=1", "url_query"),
    ("https://api.stripe.example/#v1", "url_query"),
    ("http://api.stripe.example", "url_scheme"),
]
STRIPE_BODY = {
    "name": "Stripe",
    "type": "stripe",
    "currencies": ["usd"],
    "secret_key": SECRET_KEY,
    "webhook_secret": WEBHOOK_SECRET,
}


class Counter:
    """A real HTTP server on loopback that counts the connections it accepts, answering each with a Stripe-shaped
    400: what a refused request must never reach."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await reader.readuntil(b"\r\n\r\n")
        body = b'{"error": {"type": "invalid_request_error", "message": "counted"}}'
        writer.write(
            b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        await writer.drain()
        writer.close()


@pytest.fixture
async def counter() -> AsyncIterator[Counter]:
    counting = Counter()
    server = await asyncio.start_server(counting.handle, "127.0.0.1", 0)
    counting.port = server.sockets[0].getsockname()[1]
    async with server:
        yield counting


@pytest.fixture
def strict(settings: Settings) -> Settings:
    """The default an operator gets: private processor URLs refused."""
    return settings.model_copy(update={"processor_allow_private_urls": False})


@pytest.fixture
def strict_app(strict: Settings, database: Database) -> FastAPI:
    return create_app(strict, database=database)


@pytest.fixture
async def strict_client(strict_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=strict_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://checkstand.test") as http:
        yield http


def resolving(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> list[str]:
    """Make ``anyio.getaddrinfo`` answer ``answers`` (name -> addresses); returns the names asked, in order."""
    asked: list[str] = []

    async def getaddrinfo(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in answers[host]]

    monkeypatch.setattr(egress.anyio, "getaddrinfo", getaddrinfo)
    return asked


def charge_request() -> ChargeRequest:
    return ChargeRequest(new_id("catt"), 1999, "usd", PaymentMethod(processor_reference="pm_card_visa"))


def processors_path(account_id: str, *parts: str) -> str:
    return "/".join((f"/api/{account_id}/processors", *parts))


async def processor_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Processor)) or 0)


# --- When a connection is stored --------------------------------------------------------------------------------


def test_the_default_refuses_private_processor_urls() -> None:
    assert Settings().processor_allow_private_urls is False


async def test_private_insecure_or_odd_api_bases_are_refused_at_creation_and_nothing_is_stored(
    strict_client: httpx.AsyncClient, merchant: Merchant, session: AsyncSession
) -> None:
    account_id, key = merchant
    for url, kind in REFUSED:
        refused = await strict_client.post(
            processors_path(account_id, ""), json={**STRIPE_BODY, "api_base": url}, headers=bearer(key)
        )

        assert refused.status_code == 422, (url, refused.text)
        (problem,) = refused.json()["detail"]
        assert (problem["loc"], problem["type"]) == (["body", "api_base"], kind), url
        if kind in ("url_not_public", "url_scheme"):
            assert SETTING in problem["msg"]
        for secret in (SECRET_KEY, WEBHOOK_SECRET, PASSWORD):
            assert secret not in refused.text
    listed = await strict_client.get(processors_path(account_id, ""), headers=bearer(key))
    assert listed.json()["items"] == []
    assert await processor_count(session) == 0
    assert await session.scalar(select(func.count()).select_from(Event).where(Event.account_id == account_id)) == 0


async def test_a_refused_change_of_api_base_changes_nothing(
    strict_client: httpx.AsyncClient, merchant: Merchant
) -> None:
    account_id, key = merchant
    created = await strict_client.post(
        processors_path(account_id, ""),
        json={**STRIPE_BODY, "api_base": "https://API.Stripe.example/"},
        headers=bearer(key),
    )
    assert created.status_code == 201, created.text
    processor_id = created.json()["id"]
    assert created.json()["api_base"] == "https://api.stripe.example"  # stored normalised

    for url in ("http://169.254.169.254/latest/meta-data", "https://192.168.1.1", "http://api.stripe.example"):
        changed = await strict_client.patch(
            processors_path(account_id, processor_id), json={"api_base": url, "name": "Renamed"}, headers=bearer(key)
        )
        assert changed.status_code == 422, (url, changed.text)
        assert [problem["loc"] for problem in changed.json()["detail"]] == [["body", "api_base"]]
    read = await strict_client.get(processors_path(account_id, processor_id), headers=bearer(key))
    assert (read.json()["api_base"], read.json()["name"]) == ("https://api.stripe.example", "Stripe")


async def test_the_operator_may_allow_private_and_http_api_bases(client: httpx.AsyncClient, merchant: Merchant) -> None:
    account_id, key = merchant
    for url in [*PRIVATE, "http://localhost:8420", "http://api.stripe.example"]:
        created = await client.post(
            processors_path(account_id, ""), json={**STRIPE_BODY, "api_base": url}, headers=bearer(key)
        )
        assert created.status_code == 201, (url, created.text)
    # Credentials, a query or a fragment are refused whatever the operator allows.
    for url, kind in REFUSED[-4:-1]:
        refused = await client.post(
            processors_path(account_id, ""), json={**STRIPE_BODY, "api_base": url}, headers=bearer(key)
        )
        assert refused.status_code == 422, url
        assert refused.json()["detail"][0]["type"] == kind


async def test_the_service_refuses_by_default(session: AsyncSession, merchant: Merchant) -> None:
    """A caller that forgets the operator's setting gets the safe answer."""
    with pytest.raises(InvalidFields) as raised:
        await connections.create_processor(
            session,
            merchant[0],
            SecretBox("test-at-rest-key"),
            name="Stripe",
            type="stripe",
            currencies=["usd"],
            secret_key=SECRET_KEY,
            webhook_secret=WEBHOOK_SECRET,
            api_base="http://169.254.169.254",
        )
    assert [(problem.path, problem.type) for problem in raised.value.problems] == [(("api_base",), "url_not_public")]
    assert await processor_count(session) == 0


# --- On every request -------------------------------------------------------------------------------------------


async def test_a_name_resolving_to_loopback_is_refused_before_any_connection(
    counter: Counter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A public-looking name that resolves to loopback (the counter is there): resolved once, refused, not retried,
    and nothing reaches the server. Every call surfaces as Stripe being unreachable."""
    asked = resolving(monkeypatch, {"stripe.merchant.example": ["127.0.0.1"]})
    api_base = f"https://stripe.merchant.example:{counter.port}"

    async with StripeProcessor(SECRET_KEY, api_base, network_retries=2) as adapter:
        result = await adapter.charge(charge_request())
        with pytest.raises(OutcomeUnknown) as looked_up:
            await adapter.lookup("any-key")
        with pytest.raises(OutcomeUnknown) as confirmed:
            await adapter.confirm("pi_123")

    assert result.outcome is Outcome.UNAVAILABLE
    assert result.processor_message is not None
    assert "refused: stripe.merchant.example resolves to 127.0.0.1, a loopback address" in result.processor_message
    assert SETTING in result.processor_message
    assert asked == ["stripe.merchant.example"] * 3  # once per call: a refusal is not retried
    assert counter.connections == 0
    for message in (result.processor_message, str(looked_up.value), str(confirmed.value)):
        assert SECRET_KEY not in message


async def test_plain_http_is_refused_before_the_name_is_resolved(
    counter: Counter, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = resolving(monkeypatch, {"stripe.merchant.example": ["93.184.216.34"]})

    async with StripeProcessor(SECRET_KEY, f"http://stripe.merchant.example:{counter.port}") as adapter:
        result = await adapter.charge(charge_request())

    assert result.outcome is Outcome.UNAVAILABLE
    assert "https only" in str(result.processor_message)
    assert (asked, counter.connections) == ([], 0)


async def test_the_counter_is_reached_when_the_operator_allows_it(counter: Counter) -> None:
    """The control: the same request with private addresses allowed does reach the server."""
    api_base = f"http://127.0.0.1:{counter.port}"
    async with StripeProcessor(SECRET_KEY, api_base, allow_private_urls=True, network_retries=0) as adapter:
        result = await adapter.charge(charge_request())

    assert result.outcome is Outcome.UNAVAILABLE
    assert counter.connections > 0


async def test_a_connection_stored_while_allowed_is_refused_once_the_setting_is_off(
    strict_client: httpx.AsyncClient,
    strict_app: FastAPI,
    session: AsyncSession,
    database: Database,
    shop: Shop,
    counter: Counter,
) -> None:
    """``localhost`` is loopback by definition: stored while the operator allowed it, then paid through the public
    checkout API with the setting off. The customer gets a failed attempt (never a 500), the merchant the reason,
    and the server on loopback sees nothing."""
    box: SecretBox = strict_app.state.secret_box
    stripe = await flow.stripe(session, shop.account_id, f"https://localhost:{counter.port}", box=box)
    created = await flow.open_session(session, shop.account_id, [shop.tshirt])

    answered = await strict_client.post(
        f"/api/public/checkout/{created.secure_token}/confirm",
        json={
            "payment_method": {"payment_method_id": "pm_card_visa"},
            "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
        },
    )

    assert answered.status_code == 200, answered.text
    assert answered.json()["state"] == "failed"
    assert answered.json()["error_message"] == customer_message(None)
    assert SECRET_KEY not in answered.text
    async with database.reading() as fresh:
        (charge,) = (await fresh.scalars(select(ProcessorAttempt))).all()
    assert (charge.processor_id, charge.charge_status) == (stripe.id, "unavailable")
    assert charge.processor_message is not None
    assert "refused: localhost is this machine" in charge.processor_message
    assert SETTING in charge.processor_message
    assert counter.connections == 0


async def test_settling_an_event_through_a_refused_api_base_is_a_503(counter: Counter) -> None:
    """Stripe delivers again later; nothing reached the server meanwhile."""
    intent = {"object": "payment_intent", "id": "pi_123", "metadata": {METADATA_KEY: "catt_1"}}
    event = {"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": intent}}
    delivery = Delivery("proc_1", "acct_1", f"http://localhost:{counter.port}", event, SECRET_KEY)

    with pytest.raises(StripeUnavailable) as raised:
        await settle_delivery(delivery)

    assert "refused" in str(raised.value)
    assert SECRET_KEY not in str(raised.value)
    assert counter.connections == 0
