"""The ``payment-kit`` SDK's events and webhook-endpoints calls against a real server, whose worker delivers to a
real receiver that verifies with the secret the SDK was given."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from payment_kit import EventDelivery, PaymentKit
from payment_kit.errors.unprocessable_entity_error import UnprocessableEntityError

from tests.webhooks.harness import Receiver, running_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def test_webhook_endpoints_and_events_through_the_sdk(paymentkit: tuple[PaymentKit, str]) -> None:
    client, account_id = paymentkit
    hooks = client.webhook_endpoints
    created = hooks.create_webhook_endpoint(
        account_id, url="https://merchant.example/hooks", events=["checkout_session.completed"], description="orders"
    )
    assert created.signing_secret.startswith("whsec_")
    assert (created.url, created.events, created.is_active, created.is_protected) == (
        "https://merchant.example/hooks",
        ["checkout_session.completed"],
        True,
        False,
    )

    listed = hooks.list_webhook_endpoints(account_id, limit=10)
    assert ([e.id for e in listed.items], listed.total, listed.has_more) == ([created.id], 1, False)
    assert hooks.get_webhook_endpoint(account_id, created.id).description == "orders"
    updated = hooks.update_webhook_endpoint(account_id, created.id, events=["*"], description="everything")
    assert (updated.events, updated.description) == (["*"], "everything")
    types = hooks.list_event_types(account_id)
    assert {"checkout_session.completed", "payment.succeeded"} <= {t["type"] for t in types}
    assert hooks.reveal_webhook_secret(account_id, created.id).signing_secret == created.signing_secret
    rolled = hooks.roll_webhook_secret(account_id, created.id, ttl_seconds=60)
    assert rolled.signing_secret not in (created.signing_secret, "")
    assert hooks.reveal_webhook_secret(account_id, created.id).signing_secret == rolled.signing_secret
    deleted = hooks.delete_webhook_endpoint(account_id, created.id)
    assert deleted.is_active is False

    events = client.events.list_events(account_id, aggregate_id=created.id, sort_order=-1)
    assert [e.type for e in events.items] == [
        "webhook_endpoint.deleted",
        "webhook_endpoint.updated",
        "webhook_endpoint.created",
    ]
    update = events.items[1]
    assert update.previous_data == {"description": "orders", "events": ["checkout_session.completed"]}
    assert update.data["description"] == "everything"
    assert client.events.get_event(account_id, update.id).created == update.created
    only_updates = client.events.list_events(account_id, event_type="webhook_endpoint.updated")
    assert [e.id for e in only_updates.items] == [update.id]
    with_deliveries = client.events.get_event_with_deliveries(account_id, update.id)
    assert with_deliveries.event.id == update.id
    assert [d.webhook_endpoint_id for d in with_deliveries.deliveries] == [created.id]
    assert client.events.list_event_deliveries(account_id, update.id)[0].event_id == update.id


def test_bad_input_is_refused_through_the_sdk(paymentkit: tuple[PaymentKit, str]) -> None:
    client, account_id = paymentkit
    for url, events in (("ftp://merchant.example/hooks", ["*"]), ("https://merchant.example/hooks", ["no.such"])):
        with pytest.raises(UnprocessableEntityError) as refused:
            client.webhook_endpoints.create_webhook_endpoint(account_id, url=url, events=events)
        assert refused.value.status_code == 422
    assert client.webhook_endpoints.list_webhook_endpoints(account_id).total == 0


def test_the_server_delivers_webhooks_the_sdk_secret_verifies(
    paymentkit: tuple[PaymentKit, str], receiver: Receiver
) -> None:
    client, account_id = paymentkit
    endpoint = client.webhook_endpoints.create_webhook_endpoint(account_id, url=receiver.url, events=["*"])
    receiver.trust(endpoint.signing_secret)
    (created,) = client.events.list_events(account_id, aggregate_id=endpoint.id).items

    receiver.wait_until(lambda r: created.id in r.processed)
    assert receiver.processed[created.id]["data"]["id"] == endpoint.id
    delivery = _recorded(client, account_id, created.id)
    assert (delivery.status, delivery.attempt_count, delivery.response_status) == ("succeeded", 1, 200)

    old = endpoint.signing_secret
    new = client.webhook_endpoints.roll_webhook_secret(account_id, endpoint.id).signing_secret
    receiver.trust(old, new)
    client.webhook_endpoints.update_webhook_endpoint(account_id, endpoint.id, description="rolled")
    (updated,) = client.events.list_events(account_id, event_type="webhook_endpoint.updated").items

    receiver.wait_until(lambda r: updated.id in r.processed)
    (got,) = [r for r in receiver.received if r.webhook_id == updated.id]
    assert (got.verified_by, got.signatures) == ({old, new}, 2)
    assert receiver.after_ack == []


def _recorded(client: PaymentKit, account_id: str, event_id: str) -> EventDelivery:
    """The event's one delivery once the worker has recorded its attempt (just after the receiver answered)."""
    deadline = time.monotonic() + 30
    while True:
        (delivery,) = client.events.list_event_deliveries(account_id, event_id)
        if delivery.attempt_count or time.monotonic() > deadline:
            return delivery
        time.sleep(0.02)
