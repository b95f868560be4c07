"""Request bodies are bounded before anything parses them, on both backends: too large is a 413, JSON nested too
deep a 422 (it was a RecursionError: a 500), including to the Stripe webhook with a valid signature."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
import stripe
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.app import create_app
from checkstand.core import clock
from checkstand.core.json_depth import MAX_DEPTH
from checkstand.db import Database
from checkstand.processors import connections
from checkstand.processors import stripe as stripe_adapter
from checkstand.processors.models import StripeEvent
from checkstand.settings import Settings
from tests.conftest import bearer

WEBHOOK_SECRET = "whsec_depthTestSecret0123456789abcdef"
DEEP = b"[" * 5000 + b"]" * 5000


@pytest.fixture
def app(settings: Settings, database: Database) -> FastAPI:
    return create_app(settings.model_copy(update={"max_request_bytes": 64 * 1024}), database=database)


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://checkstand.test") as client:
        yield client


def nested(levels: int) -> bytes:
    """``{"name": {"a": {"a": ...}}}``: a body ``levels`` objects deep."""
    value: object = "x"
    for _ in range(levels - 1):
        value = {"a": value}
    return json.dumps({"name": value}).encode()


def too_deep(response: httpx.Response) -> bool:
    body = response.json()
    return response.status_code == 422 and body["detail"][0]["type"] == "json_too_deep" and body["request_id"]


async def test_deep_json_to_brand_settings_is_a_422_and_changes_nothing(
    http: httpx.AsyncClient, merchant: tuple[str, str], session: AsyncSession
) -> None:
    account_id, secret = merchant
    path = f"/api/accounts/{account_id}/brand-settings"
    headers = {**bearer(secret), "Content-Type": "application/json"}

    for body in (DEEP, b'{"name": ' + DEEP + b"}", nested(MAX_DEPTH + 1), b"{" * 5000):
        refused = await http.patch(path, content=body, headers=headers)
        assert too_deep(refused), refused.text
        assert refused.headers["x-request-id"] == refused.json()["request_id"]
    # No content type at all is parsed as JSON by FastAPI: checked just the same.
    assert too_deep(await http.patch(path, content=DEEP, headers=bearer(secret)))
    # As deep as allowed gets past the limit (and is refused by the schema, as a name is a string).
    allowed = await http.patch(path, content=nested(MAX_DEPTH), headers=headers)
    assert allowed.status_code == 422
    assert allowed.json()["detail"][0]["type"] != "json_too_deep"
    assert (await accounts.get_account(session, account_id)).brand_settings.get("name") is None


async def test_a_body_larger_than_the_limit_is_a_413_before_it_is_read(
    http: httpx.AsyncClient, merchant: tuple[str, str]
) -> None:
    account_id, secret = merchant
    path = f"/api/accounts/{account_id}/brand-settings"
    large = json.dumps({"name": "x" * (64 * 1024)}).encode()

    declared = await http.patch(path, content=large, headers=bearer(secret))

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(large), 4096):
            yield large[start : start + 4096]

    streamed = await http.patch(path, content=chunks(), headers=bearer(secret))

    for refused in (declared, streamed):
        assert refused.status_code == 413
        assert refused.json()["code"] == "payload_too_large"
        assert refused.headers["x-request-id"] == refused.json()["request_id"]


async def test_a_validly_signed_deep_stripe_event_is_refused_and_stores_nothing(
    http: httpx.AsyncClient, app: FastAPI, merchant: tuple[str, str], session: AsyncSession, database: Database
) -> None:
    processor = await connections.create_processor(
        session,
        merchant[0],
        app.state.secret_box,
        name="Stripe",
        type="stripe",
        currencies=["usd"],
        secret_key="sk_test_depthLimitKey0123456789",
        webhook_secret=WEBHOOK_SECRET,
        api_base="http://127.0.0.1:9",
        allow_private_urls=True,
    )
    await session.commit()
    body = b'{"id": "evt_1", "type": "customer.created", "data": ' + DEEP + b"}"
    timestamp = int(clock.now().timestamp())
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), WEBHOOK_SECRET, timestamp=timestamp)

    refused = await http.post(
        f"/webhooks/stripe/{processor.id}",
        content=body,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )

    assert too_deep(refused), refused.text
    with pytest.raises(stripe_adapter.InvalidSignature, match="not a Stripe event"):
        stripe_adapter.verify_event(body, header, WEBHOOK_SECRET)
    async with database.reading() as fresh:
        assert await fresh.scalar(select(func.count()).select_from(StripeEvent)) == 0


async def test_a_form_is_not_read_as_json(http: httpx.AsyncClient) -> None:
    """Brackets in a form field are text: a form goes on to its handler (here, an unknown page's 404)."""
    answered = await http.post("/c/cst_unknown", data={"name": "[" * 5000})

    assert answered.status_code == 404


async def test_a_deep_filter_in_the_query_is_a_422(http: httpx.AsyncClient, merchant: tuple[str, str]) -> None:
    """A list's ``filter`` is JSON too, in the query string: a deep one was a RecursionError."""
    account_id, secret = merchant
    for deep in ("[" * 3000, '{"a": ' * 3000, '{"name": {"a": 1}}'):
        refused = await http.get(f"/api/{account_id}/products/", params={"filter": deep}, headers=bearer(secret))

        assert refused.status_code == 422
        assert refused.json()["detail"][0]["loc"] == ["query", "filter"]
