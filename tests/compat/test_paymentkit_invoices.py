"""The ``payment-kit`` SDK's invoices client against a real server, on both backends: a manual invoice created, read,
listed and collected once; bad input refused by field with nothing stored; another account's invoice not found; a
card replaced during dunning settling the overdue renewal at once; an ``incomplete`` subscription made active by a
collect of its first invoice. Every response parses as the SDK's types."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from payment_kit import PaymentKit
from payment_kit.core.api_error import ApiError
from payment_kit.errors.unprocessable_entity_error import UnprocessableEntityError
from payment_kit.types import CreateSubscriptionItemPayload, InvoiceItemCreate
from sqlalchemy import update

from checkstand.subscriptions.models import Subscription
from tests.conftest import bearer
from tests.support import Server, connect_url

GOOD_CARD = "4242424242424242"
# Stripe's 4000000000000341: saves fine, every later charge of it declines.
SAVES_THEN_DECLINES = "4000000000000341"
START = datetime(2030, 1, 15, 9, 0, tzinfo=UTC)


class Shop:
    """A simulator connection and a monthly price of 900 (and a one-off price of 250), made over the API."""

    def __init__(self, server: Server, paymentkit: tuple[PaymentKit, str]) -> None:
        self.client, self.account_id = paymentkit
        self.server = server
        self.secret = str(self.client._client_wrapper._get_token())
        self.monthly = ""
        self.one_off = ""
        with httpx.Client(base_url=f"{server.base_url}/api/{self.account_id}", headers=bearer(self.secret)) as http:

            def create(resource: str, body: dict[str, Any]) -> dict[str, Any]:
                response = http.post(f"/{resource}/", json=body)
                assert response.status_code == 201, response.text
                created: dict[str, Any] = response.json()
                return created

            create("processors", {"name": "Sim", "type": "simulator"})
            product = create("products", {"name": "Pro plan"})
            self.monthly = create(
                "prices",
                {
                    "product_id": product["id"],
                    "currency": "usd",
                    "unit_amount_atom": 900,
                    "recurring_interval": "month",
                },
            )["id"]
            self.one_off = create("prices", {"product_id": product["id"], "currency": "usd", "unit_amount_atom": 250})[
                "id"
            ]
            self.clock_id = create("test-clocks", {"name": "Dunning", "frozen_time": START.isoformat()})["id"]

    def customer(self, *, on_clock: bool = False) -> str:
        extra = {"additional_body_parameters": {"test_clock_id": self.clock_id}} if on_clock else None
        return self.client.customers.create_customer(self.account_id, email="ada@example.com", request_options=extra).id

    def card(self, customer_id: str, number: str) -> str:
        return self.client.payment_methods.create_credit_card(
            self.account_id, customer_id=customer_id, card_number=number, expiry_month="12", expiry_year="2099"
        ).id

    def subscribe(self, customer_id: str, method_id: str, period_start: datetime) -> str:
        return self.client.subscriptions.create_subscription(
            self.account_id,
            customer_id=customer_id,
            period_start=period_start,
            items=[CreateSubscriptionItemPayload(price_id=self.monthly, quantity=1)],
            default_payment_method_id=method_id,
        ).id

    def advance(self, to: datetime) -> None:
        with httpx.Client(base_url=self.server.base_url, headers=bearer(self.secret), timeout=60) as http:
            response = http.post(
                f"/api/{self.account_id}/test-clocks/{self.clock_id}/advance", json={"frozen_time": to.isoformat()}
            )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "ready"

    def attempts_of(self, invoice_id: str) -> list[str]:
        [intent] = self.client.payments_intents.list_intents(
            self.account_id, filter=json.dumps({"invoice_id": invoice_id})
        ).items
        attempts = self.client.payments_payment_attempts.list_attempts_by_intent(self.account_id, intent.id)
        return sorted(attempt.status for attempt in attempts.items)


def test_a_manual_invoice_is_created_read_listed_and_collected_once(
    paymentkit: tuple[PaymentKit, str], server: Server
) -> None:
    shop = Shop(server, paymentkit)
    client, account_id = shop.client, shop.account_id
    customer_id = shop.customer()
    method_id = shop.card(customer_id, GOOD_CARD)
    issued = datetime.now(UTC)

    created = client.invoices.create_invoice(
        account_id,
        customer_id=customer_id,
        currency="usd",
        issued_at=issued,
        description="Setup work",
        metadata={"order": "A-7"},
        items=[
            InvoiceItemCreate(price_external_id=shop.one_off, quantity=2),
            InvoiceItemCreate(name="Consulting", unit_amount=1500.0, amount=1500.0),
        ],
    )
    assert (created.status, created.billing_reason, created.currency, created.invoice_number) == (
        "open",
        "manual",
        "usd",
        1,
    )
    assert (created.subtotal_amount_atom, created.total_amount_atom, created.remaining_amount_atom) == (
        2000,
        2000,
        2000,
    )
    assert created.items is not None
    assert [(i.name, i.quantity, i.unit_amount, i.amount) for i in created.items] == [
        ("Pro plan", 2, 250, 500),
        ("Consulting", 1, 1500, 1500),
    ]
    assert created.payments == []
    assert created.metadata == {"order": "A-7"}
    assert client.invoices.get_invoice(account_id, created.id) == created

    listed = client.invoices.list_invoices(account_id, status="open")
    assert ([item.id for item in listed.items], listed.total, listed.has_more) == ([created.id], 1, False)
    assert listed.items[0].customer_email == "ada@example.com"
    assert client.invoices.list_invoices(account_id, status="paid").items == []
    by_customer = client.invoices.list_invoices(account_id, filter=json.dumps({"customer_id": customer_id}))
    assert [item.id for item in by_customer.items] == [created.id]

    collected = client.invoices.collect_invoice(account_id, created.id)
    assert (collected.invoice_id, collected.invoice_status, collected.payment_status) == (created.id, "paid", "paid")
    paid = client.invoices.get_invoice(account_id, created.id)
    assert (paid.status, paid.paid_amount_atom, paid.remaining_amount_atom) == ("paid", 2000, 0)
    assert paid.payments is not None
    [allocation] = paid.payments
    assert allocation.amount_atom == 2000
    [intent] = client.payments_intents.list_intents(account_id, filter=json.dumps({"invoice_id": created.id})).items
    assert intent.id == allocation.payment_intent_id
    assert intent.payment_method is not None
    assert (intent.status, intent.payment_method.id) == ("succeeded", method_id)

    with pytest.raises(ApiError) as again:
        client.invoices.collect_invoice(account_id, created.id)
    assert again.value.status_code == 409
    assert shop.attempts_of(created.id) == ["succeeded"]

    other_id, other_secret = server.new_account("Other")
    other = PaymentKit(base_url=server.base_url, token=other_secret, timeout=30)
    for call in (other.invoices.get_invoice, other.invoices.collect_invoice):
        with pytest.raises(ApiError) as hidden:
            call(other_id, created.id)
        assert hidden.value.status_code == 404
    assert other.invoices.list_invoices(other_id).items == []


def test_bad_input_is_refused_by_field_and_stores_nothing(paymentkit: tuple[PaymentKit, str], server: Server) -> None:
    shop = Shop(server, paymentkit)
    client, account_id = shop.client, shop.account_id
    customer_id = shop.customer()
    now = datetime.now(UTC)

    with pytest.raises(UnprocessableEntityError) as fractional:
        client.invoices.create_invoice(
            account_id,
            customer_id=customer_id,
            currency="usd",
            issued_at=now,
            items=[InvoiceItemCreate(name="Half a cent", unit_amount=10.5)],
        )
    assert [p.loc for p in fractional.value.body.detail or []] == [["body", "items", 0, "unit_amount"]]

    with pytest.raises(UnprocessableEntityError) as refused:
        client.invoices.create_invoice(
            account_id,
            customer_id="cus_nobody",
            currency="usd",
            issued_at=now,
            due_date=now - timedelta(days=1),
            collection_method="send_invoice",
            items=[
                InvoiceItemCreate(name="No amount"),
                InvoiceItemCreate(price_external_id="price_nothing"),
                InvoiceItemCreate(name="Wrong sum", unit_amount=100.0, quantity=3, amount=200.0),
            ],
        )
    assert sorted(tuple(p.loc) for p in refused.value.body.detail or []) == sorted(
        [
            ("body", "collection_method"),
            ("body", "customer_id"),
            ("body", "due_date"),
            ("body", "items", 0, "unit_amount"),
            ("body", "items", 1, "price_external_id"),
            ("body", "items", 1, "name"),
            ("body", "items", 1, "unit_amount"),
            ("body", "items", 2, "amount"),
        ]
    )

    with pytest.raises(UnprocessableEntityError) as empty:
        client.invoices.create_invoice(account_id, customer_id=customer_id, currency="usd", issued_at=now, items=[])
    assert [p.loc for p in empty.value.body.detail or []] == [["body", "items"]]
    assert client.invoices.list_invoices(account_id).total == 0
    with pytest.raises(UnprocessableEntityError):
        client.invoices.list_invoices(account_id, status="settled")


def test_a_card_replaced_during_dunning_settles_the_overdue_renewal_at_once(
    paymentkit: tuple[PaymentKit, str], server: Server
) -> None:
    shop = Shop(server, paymentkit)
    client, account_id = shop.client, shop.account_id
    customer_id = shop.customer(on_clock=True)
    subscription_id = shop.subscribe(customer_id, shop.card(customer_id, GOOD_CARD), START)
    assert client.subscriptions.get_subscription(account_id, subscription_id).state == "active"
    declining = shop.card(customer_id, SAVES_THEN_DECLINES)
    moved = client.subscriptions.update_subscription(account_id, subscription_id, default_payment_method_id=declining)
    assert moved.updated_fields == ["default_payment_method_id"]

    shop.advance(START + timedelta(days=32))
    subscription = client.subscriptions.get_subscription(account_id, subscription_id)
    assert subscription.state == "past_due"
    [overdue] = client.invoices.list_invoices(
        account_id, status="past_due", filter=json.dumps({"subscription_id": subscription_id})
    ).items
    assert overdue.billing_reason == "subscription_cycle"
    assert overdue.period_start == subscription.current_period_end

    replacement = shop.card(customer_id, GOOD_CARD)
    updated = client.subscriptions.update_subscription(
        account_id, subscription_id, default_payment_method_id=replacement
    )

    assert updated.model_extra is not None
    assert updated.model_extra["subscription"]["state"] == "active"
    settled = client.subscriptions.get_subscription(account_id, subscription_id)
    assert (settled.state, settled.current_period_start) == ("active", overdue.period_start)
    paid = client.invoices.get_invoice(account_id, overdue.id)
    assert (paid.status, paid.paid_amount_atom) == ("paid", 900)
    assert shop.attempts_of(overdue.id) == ["declined", "succeeded"]
    renewals = client.subscriptions.get_subscription_invoices(
        account_id, subscription_id, include_items=True, include_payments=True
    )
    assert [(i.billing_reason, i.status) for i in renewals.items] == [
        ("subscription_cycle", "paid"),
        ("subscription_create", "paid"),
    ]
    assert renewals.items[0].items is not None
    assert [(line.unit_amount, line.amount) for line in renewals.items[0].items] == [(900, 900)]
    events = {event.type for event in client.events.list_events(account_id, limit=100).items}
    assert {"subscription.past_due", "invoice.payment_failed", "invoice.paid", "subscription.renewed"} <= events


def _point_default_at(server: Server, subscription_id: str, method_id: str) -> None:
    """Give the subscription another default method in its database, without the update that would settle it."""

    async def point() -> None:
        database = connect_url(server.database_url)
        try:
            async with database.writing() as session:
                await session.execute(
                    update(Subscription)
                    .where(Subscription.id == subscription_id)
                    .values(default_payment_method_id=method_id)
                )
                await session.commit()
        finally:
            await database.dispose()

    asyncio.run(point())


def test_an_incomplete_subscription_becomes_active_when_its_first_invoice_is_collected(
    paymentkit: tuple[PaymentKit, str], server: Server
) -> None:
    shop = Shop(server, paymentkit)
    client, account_id = shop.client, shop.account_id
    customer_id = shop.customer()
    subscription_id = shop.subscribe(customer_id, shop.card(customer_id, SAVES_THEN_DECLINES), datetime.now(UTC))
    assert client.subscriptions.get_subscription(account_id, subscription_id).state == "incomplete"
    [first] = client.invoices.list_invoices(account_id, filter=json.dumps({"subscription_id": subscription_id})).items
    assert (first.billing_reason, first.status) == ("subscription_create", "past_due")

    declined = client.invoices.collect_invoice(account_id, first.id)
    assert (declined.payment_status, declined.invoice_status, declined.subscription_id) == (
        "failed",
        "past_due",
        subscription_id,
    )
    assert declined.error_message
    assert client.subscriptions.get_subscription(account_id, subscription_id).state == "incomplete"

    _point_default_at(server, subscription_id, shop.card(customer_id, GOOD_CARD))
    collected = client.invoices.collect_invoice(account_id, first.id)

    assert (collected.payment_status, collected.invoice_status) == ("paid", "paid")
    assert client.subscriptions.get_subscription(account_id, subscription_id).state == "active"
    assert shop.attempts_of(first.id) == ["declined", "declined", "succeeded"]
    with pytest.raises(ApiError) as again:
        client.invoices.collect_invoice(account_id, first.id)
    assert again.value.status_code == 409


def test_a_payment_attempt_charges_a_failed_intent_once_more_on_the_current_default(
    paymentkit: tuple[PaymentKit, str], server: Server
) -> None:
    shop = Shop(server, paymentkit)
    client, account_id = shop.client, shop.account_id
    customer_id = shop.customer()
    subscription_id = shop.subscribe(customer_id, shop.card(customer_id, SAVES_THEN_DECLINES), datetime.now(UTC))
    [first] = client.invoices.list_invoices(account_id, filter=json.dumps({"subscription_id": subscription_id})).items
    [intent] = client.payments_intents.list_intents(account_id, filter=json.dumps({"invoice_id": first.id})).items
    assert intent.status == "failed"
    attempts = client.payments_payment_attempts

    with pytest.raises(UnprocessableEntityError) as wrong:
        attempts.create_payment_attempt(
            account_id, payment_intent_external_id=intent.id, amount_atom=100, currency="eur", metadata={"a": "b"}
        )
    assert sorted(tuple(p.loc) for p in wrong.value.body.detail or []) == [
        ("body", "amount_atom"),
        ("body", "currency"),
        ("body", "metadata"),
    ]
    _point_default_at(server, subscription_id, shop.card(customer_id, GOOD_CARD))
    attempt = attempts.create_payment_attempt(
        account_id, payment_intent_external_id=intent.id, amount_atom=900, currency="usd"
    )

    assert (attempt.payment_intent_id, attempt.status, attempt.amount_atom) == (intent.id, "succeeded", 900)
    assert client.invoices.get_invoice(account_id, first.id).status == "paid"
    assert client.subscriptions.get_subscription(account_id, subscription_id).state == "active"
    with pytest.raises(ApiError) as again:
        attempts.create_payment_attempt(
            account_id, payment_intent_external_id=intent.id, amount_atom=900, currency="usd"
        )
    assert again.value.status_code == 409
    assert shop.attempts_of(first.id) == ["declined", "succeeded"]
