"""A merchant's billing through the ``payment-kit`` SDK against a real server: a customer on a test clock who
pays a monthly plan through the public checkout API, then the clock advanced over HTTP (the SDK has no client for
clocks; the advance answers once the server's worker has caught the clock's customers up), and what billing did
read back through the SDK.

The catalog and a simulator connection are written into the server's database through the services (the SDK can't
give a price a trial); a Stripe connection is made over the server's processors API, which seals its key.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import httpx
from payment_kit import PaymentKit
from payment_kit.types import CheckoutSessionLineItemCreate, Invoice, PaymentAttempt

from checkstand.catalog import service as catalog
from tests.conftest import bearer
from tests.localstripe import SECRET_KEY as STRIPE_SECRET_KEY
from tests.payments import flow
from tests.support import Server, connect_url

START: Final = datetime(2028, 1, 31, 10, 0, tzinfo=UTC)
AMOUNT: Final = 900


@dataclass(frozen=True)
class Subscribed:
    clock_id: str
    customer_id: str
    subscription_id: str


@dataclass(frozen=True)
class Merchant:
    server: Server
    client: PaymentKit
    account_id: str
    secret: str

    def _http(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = httpx.request(
            method,
            f"{self.server.base_url}/api/{self.account_id}{path}",
            json=body,
            headers=bearer(self.secret),
            timeout=60,
        )
        assert response.is_success, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def simulator(self) -> None:
        async def connect() -> None:
            database = connect_url(self.server.database_url)
            try:
                async with database.writing() as session:
                    await flow.simulator(session, self.account_id)
            finally:
                await database.dispose()

        asyncio.run(connect())

    def stripe(self, api_base: str) -> None:
        """A Stripe connection to localstripe, made as a merchant makes one."""
        body = {
            "name": "Stripe",
            "type": "stripe",
            "currencies": ["usd"],
            "secret_key": STRIPE_SECRET_KEY,
            "webhook_secret": flow.STRIPE_WEBHOOK_SECRET,
            "api_base": api_base,
        }
        self._http("POST", "/processors/", body)

    def advance(self, clock_id: str, to: datetime) -> None:
        """Move the clock and wait for the server's answer, which comes once its worker has caught up."""
        assert self._http("POST", f"/test-clocks/{clock_id}/advance", {"frozen_time": to.isoformat()})["status"] == (
            "ready"
        )

    def subscribe(
        self, payment_method: dict[str, Any], *, trial_days: int = 0, price_id: str | None = None
    ) -> Subscribed:
        """A clock at ``START``, a customer on it, and a checkout of a monthly plan (``price_id``, else a new one of
        ``AMOUNT``) that customer pays with ``payment_method`` (the public confirm's) through the public checkout
        API, on the connected processor."""
        clock_id = self._http("POST", "/test-clocks/", {"name": "A year", "frozen_time": START.isoformat()})["id"]
        customer = self.client.customers.create_customer(
            self.account_id,
            email="ada@example.com",
            request_options={"additional_body_parameters": {"test_clock_id": clock_id}},
        )

        async def monthly_price() -> str:
            database = connect_url(self.server.database_url)
            try:
                async with database.writing() as session:
                    product = await catalog.create_product(session, self.account_id, name="Pro")
                    price = await catalog.create_price(
                        session,
                        self.account_id,
                        product_id=product.id,
                        currency="usd",
                        unit_amount_atom=AMOUNT,
                        recurring_interval="month",
                        trial_days=trial_days,
                    )
                    await session.commit()
                    return price.id
            finally:
                await database.dispose()

        checkout = self.client.checkout_sessions.create_checkout_session(
            self.account_id,
            success_url="https://shop.example/ok",
            return_url="https://shop.example/cart",
            line_items=[CheckoutSessionLineItemCreate(price_id=price_id or asyncio.run(monthly_price()))],
            customer_id=customer.id,
        )
        confirmed = httpx.post(
            f"{self.server.base_url}/api/public/checkout/{checkout.secure_token}/confirm",
            json={"payment_method": payment_method},
            timeout=60,
        )
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["state"] == "succeeded", confirmed.text
        [subscription] = self.client.subscriptions.list_subscriptions_by_customer(self.account_id, customer.id)
        return Subscribed(clock_id, customer.id, subscription.id)

    def invoices(self, subscription_id: str) -> list[Invoice]:
        """The subscription's invoices, oldest period first."""
        page = self.client.subscriptions.get_subscription_invoices(self.account_id, subscription_id, limit=100)
        assert page.total == len(page.items)
        return sorted(page.items, key=lambda invoice: (invoice.period_start or invoice.issued_at, invoice.issued_at))

    def event_types(self, aggregate_id: str) -> list[str]:
        """The object's events, oldest first."""
        page = self.client.events.list_events(self.account_id, aggregate_id=aggregate_id, limit=100)
        return [event.type for event in reversed(page.items)]

    def attempts(self) -> list[PaymentAttempt]:
        """The account's payment attempts (the processor calls), oldest first, as the SDK lists them."""
        found: list[PaymentAttempt] = []
        for intent in self.client.payments_intents.list_intents(self.account_id, limit=100).items:
            found += self.client.payments_payment_attempts.list_attempts_by_intent(self.account_id, intent.id).items
        return sorted(found, key=lambda attempt: attempt.created_at)

    def charged(self) -> list[int]:
        """The amounts the processor charged: the succeeded attempts'."""
        return [attempt.amount_atom for attempt in self.attempts() if attempt.status == "succeeded"]


def card(number: str) -> dict[str, Any]:
    return {"card": {"number": number, "exp_month": 12, "exp_year": 2099, "cvc": "123"}}


def merchant(server: Server) -> Merchant:
    account_id, secret = server.new_account()
    return Merchant(server, PaymentKit(base_url=server.base_url, token=secret, timeout=60), account_id, secret)
