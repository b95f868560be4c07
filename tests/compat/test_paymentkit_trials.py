"""A trial's checkout session through the ``payment-kit`` SDK against a real server: ``amount_due_today_atom`` (a
field the SDK's ``CheckoutSession`` doesn't declare, so it is read from the model's extras) says what paying charges
now beside the totals, and the hosted page's public view says the same."""

from __future__ import annotations

import httpx
from payment_kit import PaymentKit
from payment_kit.types import CheckoutSession, CheckoutSessionLineItemCreate

from tests.conftest import bearer
from tests.support import Server


def _prices(server: Server, account_id: str, secret: str) -> dict[str, str]:
    api = f"{server.base_url}/api/{account_id}"
    with httpx.Client(headers=bearer(secret), timeout=30) as http:
        product = http.post(f"{api}/products/", json={"name": "Pro"}).json()["id"]

        def price(amount: int, **extra: object) -> str:
            body = {"product_id": product, "currency": "usd", "unit_amount_atom": amount, **extra}
            created = http.post(f"{api}/prices/", json=body)
            assert created.status_code == 201, created.text
            return str(created.json()["id"])

        return {
            "trial": price(4900, recurring_interval="month", pricing_type="recurring", trial_days=14),
            "setup_fee": price(2500),
        }


def test_the_amount_due_today_of_a_trial_is_nothing_and_of_a_mixed_session_its_one_time_part(
    paymentkit: tuple[PaymentKit, str], server: Server
) -> None:
    client, account_id = paymentkit
    prices = _prices(server, account_id, client._client_wrapper._get_token())
    sessions = client.checkout_sessions

    def create(*price_ids: str) -> CheckoutSession:
        return sessions.create_checkout_session(
            account_id,
            success_url="https://shop.example/ok",
            return_url="https://shop.example/cart",
            line_items=[CheckoutSessionLineItemCreate(price_id=price_id) for price_id in price_ids],
        )

    trial = sessions.get_checkout_session(account_id, create(prices["trial"]).id)
    mixed = create(prices["setup_fee"], prices["trial"])

    assert trial.model_extra is not None
    assert (trial.model_extra["amount_total_atom"], trial.model_extra["amount_due_today_atom"]) == (4900, 0)
    assert mixed.model_extra is not None
    assert mixed.model_extra["amount_total_atom"] == 7400
    assert mixed.model_extra["amount_due_today_atom"] == 2500
    listed = sessions.list_checkout_sessions(account_id)
    assert {item.id: (item.model_extra or {})["amount_due_today_atom"] for item in listed.items} == {
        trial.id: 0,
        mixed.id: 2500,
    }
    public = httpx.get(f"{server.base_url}/api/public/checkout/{trial.secure_token}", timeout=30).json()
    assert (public["amount_total_atom"], public["amount_due_today_atom"]) == (4900, 0)
    assert [(tier["amount_due_today_atom"], tier["trial_days"]) for tier in public["tiers"]] == [(0, 14)]
