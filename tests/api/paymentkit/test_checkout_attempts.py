"""``checkout-attempts/`` for the merchant: attempts with their processor attempts and transitions, in process on
both backends, and through the public ``payment-kit`` SDK against a real server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from payment_kit import PaymentKit
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.catalog import service as catalog
from tests import support
from tests.conftest import bearer
from tests.payments import flow
from tests.shop import Shop


def card_body(number: str) -> dict[str, Any]:
    return {
        "payment_method": {"card": {"number": number, "exp_month": 12, "exp_year": 2099, "cvc": "123"}},
        "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
    }


def attempts_url(account_id: str, *parts: str) -> str:
    return "/".join((f"/api/{account_id}/checkout-attempts", *parts))


async def test_an_attempt_shows_every_processor_attempt_and_transition(
    client: httpx.AsyncClient, session: AsyncSession, shop: Shop
) -> None:
    down = await flow.simulator(session, shop.account_id, "Down", available=False)
    first = await flow.simulator(session, shop.account_id, "First")
    second = await flow.simulator(session, shop.account_id, "Second")
    created = await flow.open_session(session, shop.account_id, [shop.tshirt])
    confirmed = await client.post(
        f"/api/public/checkout/{created.secure_token}/confirm", json=card_body(flow.PROCESSING_ERROR_CARD)
    )
    attempt_id = confirmed.json()["id"]
    key = bearer(shop.secret)

    plain = await client.get(attempts_url(shop.account_id, attempt_id), headers=key)
    expanded = await client.get(
        attempts_url(shop.account_id, attempt_id), params={"expand": "processor_attempts"}, headers=key
    )
    details = await client.get(attempts_url(shop.account_id, attempt_id, "details"), headers=key)
    transitions = await client.get(attempts_url(shop.account_id, attempt_id, "state-transitions"), headers=key)

    assert plain.status_code == 200
    assert plain.json()["state"] == "failed"
    assert plain.json()["checkout_session_id"] == created.id
    assert plain.json()["error_message_for_customer"] == (
        "An error occurred while processing your card. Try again in a little bit."
    )
    assert "processing_error" in plain.json()["error_message_for_debug"]
    assert plain.json()["processor_attempts"] is None
    assert [
        (p["processor_id"], p["charge_status"], p["decline_code"]) for p in expanded.json()["processor_attempts"]
    ] == [
        (down.id, "skipped", None),
        (first.id, "declined", "processing_error"),
        (second.id, "declined", "processing_error"),
    ]
    assert details.json()["checkout_attempt_id"] == attempt_id
    assert [p["processor_name"] for p in details.json()["processor_attempts"]] == ["Down", "First", "Second"]
    assert all(p["created_at"] for p in details.json()["processor_attempts"])
    steps = transitions.json()["transitions"]
    assert [(t["from_state"], t["to_state"]) for t in steps] == [("pending", "processing"), ("processing", "failed")]
    assert steps[0]["created_at"] <= steps[1]["created_at"]


async def test_attempts_list_newest_first_filter_by_session_and_stay_in_their_account(
    client: httpx.AsyncClient, session: AsyncSession, shop: Shop
) -> None:
    await flow.simulator(session, shop.account_id)
    one = await flow.open_session(session, shop.account_id, [shop.tshirt])
    two = await flow.open_session(session, shop.account_id, [shop.tshirt])
    ids = []
    for created in (one, one, two):
        answer = await client.post(
            f"/api/public/checkout/{created.secure_token}/confirm", json=card_body(flow.LOST_CARD)
        )
        ids.append(answer.json()["id"])
    other = await accounts.create_account(session, name="Other")
    other_key = await accounts.create_api_key(session, other)
    await session.commit()
    key = bearer(shop.secret)

    listed = await client.get(attempts_url(shop.account_id, ""), headers=key)
    filtered = await client.get(
        attempts_url(shop.account_id, ""), params={"filter": json.dumps({"checkout_session_id": one.id})}, headers=key
    )
    foreign = await client.get(attempts_url(other.id, ids[0]), headers=bearer(other_key.secret))

    assert [item["id"] for item in listed.json()["items"]] == list(reversed(ids))
    assert (listed.json()["total"], listed.json()["has_more"]) == (3, False)
    assert {item["id"] for item in filtered.json()["items"]} == set(ids[:2])
    assert foreign.status_code == 404
    bad = await client.get(attempts_url(shop.account_id, ""), params={"filter": '{"amount": 1}'}, headers=key)
    assert bad.status_code == 422


async def _paid_session(database_url: str, account_id: str) -> tuple[str, str]:
    database = support.connect_url(database_url)
    try:
        async with database.writing() as session:
            product = await catalog.create_product(session, account_id, name="Plan")
            monthly = await catalog.create_price(
                session,
                account_id,
                product_id=product.id,
                currency="usd",
                unit_amount_atom=900,
                recurring_interval="month",
            )
            await session.commit()
            await flow.simulator(session, account_id)
            created = await flow.open_session(session, account_id, [monthly.id])
            return created.id, created.secure_token
    finally:
        await database.dispose()


def test_the_sdk_reads_checkout_attempts(server: support.Server) -> None:
    account_id, secret = server.new_account()
    checkout_id, token = asyncio.run(_paid_session(server.database_url, account_id))
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        paid = http.post(f"/api/public/checkout/{token}/confirm", json=card_body(flow.GOOD_CARD))
    attempt_id = paid.json()["id"]
    sdk = PaymentKit(base_url=server.base_url, token=secret, timeout=30).checkout_attempts

    page = sdk.list_checkout_attempts(
        account_id, expand=["processor_attempts"], filter=json.dumps({"checkout_session_id": checkout_id})
    )
    attempt = sdk.get_checkout_attempt(account_id, attempt_id)
    details = sdk.get_checkout_attempt_details(account_id, attempt_id)
    transitions = sdk.get_state_transitions(account_id, attempt_id)

    assert [item.id for item in page.items] == [attempt_id]
    assert page.items[0].processor_attempts is not None
    assert page.items[0].processor_attempts[0].charge_status == "succeeded"
    assert attempt.state == "succeeded"
    assert attempt.subscription_id is not None
    assert attempt.customer_id is not None
    assert details.payment_intent_id is not None
    assert details.processor_attempts is not None
    assert [t.to_state for t in transitions.transitions] == ["processing", "succeeded"]
