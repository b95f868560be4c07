"""The ``paid-python`` SDK's ``webhooks`` calls against a real server, whose worker delivers Paid's envelope to a
real HTTP receiver started by the test; every signature is checked by an implementation of Paid's scheme of the
tests' own (:func:`tests.webhooks.paid_receiver.verifies`), not by the server's code."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
from paid import Paid
from paid.errors.bad_request_error import BadRequestError
from paid.errors.not_found_error import NotFoundError

from checkstand.catalog import service as catalog
from tests.compat.paid_checkouts import pay
from tests.conftest import bearer
from tests.payments import flow
from tests.support import Server, connect_url
from tests.webhooks.paid_receiver import Receiver, running_receiver, verifies

COMPLETED = "billing-checkout-completed"
SERVED = [
    "billing-checkout-created",
    COMPLETED,
    "billing-checkout-expired",
    "billing-payment-succeeded",
    "billing-payment-failed",
    "billing-invoice-created",
    "billing-invoice-paid",
]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@dataclass(frozen=True)
class Merchant:
    server: Server
    paid: Paid
    account_id: str
    secret: str

    def paymentkit(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.server.base_url}/api/{self.account_id}{path}",
            json=body,
            headers=bearer(self.secret),
            timeout=30,
        )


@pytest.fixture
def merchant(server: Server) -> Merchant:
    account_id, secret = server.new_account()
    return Merchant(server, Paid(base_url=f"{server.base_url}/api/v2", token=secret, timeout=30), account_id, secret)


def last_sent(client: Paid, name: str) -> tuple[datetime | None, str | None]:
    """The webhook's lastSentAt and lastStatus once the worker has recorded an attempt (just after the answer)."""
    deadline = time.monotonic() + 30
    while True:
        (webhook,) = [w for w in client.webhooks.list_webhooks().data if w.name == name]
        if webhook.last_status is not None or time.monotonic() > deadline:
            return webhook.last_sent_at, webhook.last_status
        time.sleep(0.05)


def test_a_completed_checkout_arrives_in_paids_envelope_signed_with_the_accounts_secret(
    merchant: Merchant, receiver: Receiver
) -> None:
    client = merchant.paid
    listed = client.webhooks.list_webhooks()
    assert [w.name for w in listed.data] == SERVED
    assert listed.signing_secret_configured is False
    assert all(w.enabled is False and w.url is None and w.last_sent_at is None for w in listed.data)

    saved = client.webhooks.update_webhook(COMPLETED, enabled=True, url=receiver.url())
    assert (saved.name, saved.enabled, saved.url, saved.last_status) == (COMPLETED, True, receiver.url(), None)
    secret = saved.signing_secret
    assert secret is not None
    assert len(secret) >= 32
    assert client.webhooks.list_webhooks().signing_secret_configured is True
    assert client.webhooks.update_webhook(COMPLETED, enabled=True).signing_secret is None  # shown once

    purchase = pay(merchant.server, merchant.account_id)
    delivery = receiver.wait_for(lambda d: d.envelope["event"] == COMPLETED)
    envelope = delivery.envelope
    assert set(envelope) == {"event", "timestamp", "isTest", "data"}
    assert envelope["isTest"] is False
    assert datetime.fromisoformat(envelope["timestamp"]).tzinfo is not None
    checkout = envelope["data"]
    assert checkout["id"] == "chk_" + purchase.checkout_session_id.removeprefix("cs_")
    assert checkout["status"] == "completed"
    assert checkout["customerId"].startswith("cus_")
    assert "/c/" in checkout["url"]
    assert delivery.headers["content-type"] == "application/json"
    assert delivery.headers["x-webhook-id"].startswith("evt_")
    assert verifies(delivery, secret)
    assert not verifies(delivery, secret + "x")
    # Only the webhook enabled was sent anything: no checkout-created, no payment-succeeded.
    assert {d.envelope["event"] for d in receiver.deliveries} == {COMPLETED}

    sent_at, status = last_sent(client, COMPLETED)
    assert (status, sent_at is not None) == ("success", True)

    rotated = client.webhooks.rotate_webhook_secret().signing_secret
    assert rotated not in (secret, "")
    assert client.webhooks.test_webhook(COMPLETED).success is True
    test = receiver.wait_for(lambda d: d.envelope["isTest"] is True)
    assert (test.envelope["event"], test.envelope["data"]) == (COMPLETED, {})
    assert verifies(test, rotated)
    assert not verifies(test, secret)  # Paid: the previous secret is invalidated at once


def confirm(server: Server, token: str, number: str) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/api/public/checkout/{token}/confirm",
        json={
            "payment_method": {"card": {"number": number, "exp_month": 12, "exp_year": 2099, "cvc": "123"}},
            "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
        },
        timeout=30,
    )


def test_payments_of_a_checkout_arrive_as_paids_payments(merchant: Merchant, receiver: Receiver) -> None:
    client = merchant.paid
    for name in ("billing-checkout-created", "billing-payment-failed", "billing-payment-succeeded"):
        client.webhooks.update_webhook(name, enabled=True, url=receiver.url(f"/{name}"))

    async def arrange() -> tuple[str, str]:
        database = connect_url(merchant.server.database_url)
        try:
            async with database.writing() as session:
                product = await catalog.create_product(session, merchant.account_id, name="Thing")
                price = await catalog.create_price(
                    session, merchant.account_id, product_id=product.id, currency="eur", unit_amount_atom=1250
                )
                await session.commit()
                await flow.simulator(session, merchant.account_id)
                checkout = await flow.open_session(session, merchant.account_id, [price.id])
                return checkout.id, checkout.secure_token
        finally:
            await database.dispose()

    checkout_id, token = asyncio.run(arrange())
    assert confirm(merchant.server, token, flow.INSUFFICIENT_FUNDS_CARD).json()["state"] == "failed"
    assert confirm(merchant.server, token, flow.GOOD_CARD).json()["state"] == "succeeded"

    failed = receiver.wait_for(lambda d: d.path == "/billing-payment-failed").envelope
    assert failed["event"] == "billing-payment-failed"
    assert (failed["data"]["status"], failed["data"]["amount"], failed["data"]["currency"]) == ("failed", 1250, "EUR")
    assert failed["data"]["checkoutId"] == "chk_" + checkout_id.removeprefix("cs_")
    assert failed["data"]["failureCode"] == "insufficient_funds"
    succeeded = receiver.wait_for(lambda d: d.path == "/billing-payment-succeeded").envelope["data"]
    assert (succeeded["status"], succeeded["amount"], succeeded["currency"]) == ("posted", 1250, "EUR")
    assert succeeded["orderId"] == "ord_" + checkout_id.removeprefix("cs_")  # a one-time purchase's order
    assert succeeded["id"] in {p.id for p in client.payments.list_payments().data}
    created = receiver.wait_for(lambda d: d.path == "/billing-checkout-created").envelope
    assert (created["event"], created["data"]["id"]) == ("billing-checkout-created", failed["data"]["checkoutId"])
    assert len(receiver.deliveries) == 3


def test_a_failing_receiver_shows_as_failed_and_a_disabled_webhook_gets_nothing(
    merchant: Merchant, receiver: Receiver
) -> None:
    client = merchant.paid
    client.webhooks.update_webhook("billing-payment-failed", enabled=True, url=receiver.url("/fail"))
    client.webhooks.test_webhook("billing-payment-failed")
    receiver.wait_for(lambda d: d.path == "/fail")
    sent_at, status = last_sent(client, "billing-payment-failed")
    assert (status, sent_at is not None) == ("failed", True)

    disabled = client.webhooks.update_webhook("billing-payment-failed", enabled=False)
    assert (disabled.enabled, disabled.url) == (False, receiver.url("/fail"))
    with pytest.raises(BadRequestError):
        client.webhooks.test_webhook("billing-payment-failed")
    cleared = client.webhooks.update_webhook("billing-payment-failed", url=None)
    assert (cleared.enabled, cleared.url) == (False, None)


def test_refused_changes_change_nothing(merchant: Merchant, receiver: Receiver) -> None:
    client = merchant.paid
    with pytest.raises(NotFoundError):
        client.webhooks.update_webhook("billing-credits-depleted", enabled=True, url=receiver.url())
    with pytest.raises(NotFoundError):
        client.webhooks.test_webhook("no-such-webhook")
    with pytest.raises(BadRequestError) as no_url:
        client.webhooks.update_webhook(COMPLETED, enabled=True)
    assert "enabled" in no_url.value.body["details"]
    with pytest.raises(BadRequestError) as bad_url:
        client.webhooks.update_webhook(COMPLETED, enabled=True, url="ftp://merchant.example/hooks")
    assert bad_url.value.body["details"].startswith("url:")
    with pytest.raises(BadRequestError):
        client.webhooks.test_webhook(COMPLETED)
    listed = client.webhooks.list_webhooks()
    assert listed.signing_secret_configured is False
    assert not any(w.enabled or w.url for w in listed.data)

    client.webhooks.update_webhook(COMPLETED, enabled=True, url=receiver.url())
    with pytest.raises(BadRequestError) as enabled_without_url:
        client.webhooks.update_webhook(COMPLETED, url=None)
    assert enabled_without_url.value.body["details"].startswith("url:")
    (webhook,) = [w for w in client.webhooks.list_webhooks().data if w.name == COMPLETED]
    assert (webhook.enabled, webhook.url) == (True, receiver.url())


def test_a_paid_webhook_is_a_protected_endpoint_in_paymentkits_dialect(merchant: Merchant, receiver: Receiver) -> None:
    saved = merchant.paid.webhooks.update_webhook(COMPLETED, enabled=True, url=receiver.url())
    endpoint = merchant.paymentkit("GET", f"/webhook-endpoints/{saved.id}").json()
    assert (endpoint["url"], endpoint["events"], endpoint["is_protected"]) == (
        receiver.url(),
        ["checkout_session.completed"],
        True,
    )
    for method, path, body in (
        ("PATCH", f"/webhook-endpoints/{saved.id}", {"events": ["*"]}),
        ("DELETE", f"/webhook-endpoints/{saved.id}", None),
        ("POST", f"/webhook-endpoints/{saved.id}/roll-secret", {}),
        ("GET", f"/webhook-endpoints/{saved.id}/reveal-secret", None),
    ):
        refused = merchant.paymentkit(method, path, body)
        assert (refused.status_code, refused.json()["code"]) == (409, "webhook_endpoint_protected"), path
    assert merchant.paymentkit("GET", f"/webhook-endpoints/{saved.id}").json()["events"] == [
        "checkout_session.completed"
    ]
