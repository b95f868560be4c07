"""The ``payment-kit`` SDK's payment-method calls against a real server, on both backends: every response parses,
a card sent by the merchant's server is vaulted and never stored, and a recurring checkout paid on the public API
fills the subscription's ``payment_method``."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from payment_kit import PaymentKit
from payment_kit.core.api_error import ApiError
from payment_kit.errors.unprocessable_entity_error import UnprocessableEntityError
from payment_kit.types import CheckoutSessionLineItemCreate
from sqlalchemy import select

from checkstand.db import Base
from tests.conftest import bearer
from tests.support import Server, connect_url

# A Visa debit test card no other test uses: finding it anywhere in the database means it was stored.
SECRET_NUMBER = "4000056655665556"


def _connect_simulator(server: Server, account_id: str, secret: str) -> None:
    with httpx.Client(base_url=server.base_url, headers=bearer(secret), timeout=30) as http:
        response = http.post(f"/api/{account_id}/processors/", json={"name": "Sim", "type": "simulator"})
    assert response.status_code == 201, response.text


def _secret(client: PaymentKit) -> str:
    return str(client._client_wrapper._get_token())


def _stored_anywhere(server: Server, needle: str) -> list[str]:
    """The tables of the server's database whose rows, as text, contain ``needle``."""

    async def scan() -> list[str]:
        database = connect_url(server.database_url)
        try:
            async with database.reading() as session:
                found = []
                for table in Base.metadata.sorted_tables:
                    rows = (await session.execute(select(table))).all()
                    if any(needle in str(tuple(row)) for row in rows):
                        found.append(table.name)
                return found
        finally:
            await database.dispose()

    return asyncio.run(scan())


def test_payment_methods_through_the_sdk(paymentkit: tuple[PaymentKit, str], server: Server) -> None:
    client, account_id = paymentkit
    _connect_simulator(server, account_id, _secret(client))
    customer = client.customers.create_customer(account_id, email="grace@example.com")
    methods = client.payment_methods

    saved = methods.create_credit_card(
        account_id, customer_id=customer.id, card_number=SECRET_NUMBER, expiry_month="12", expiry_year="2099", cvv="123"
    )
    assert (saved.customer_id, saved.provider_type, saved.name, saved.is_active) == (
        customer.id,
        "credit_card",
        "Visa ending 5556",
        True,
    )
    assert saved.model_extra is not None
    assert (saved.model_extra["last4"], saved.model_extra["exp_month"], saved.model_extra["exp_year"]) == (
        "5556",
        12,
        2099,
    )
    assert _stored_anywhere(server, SECRET_NUMBER) == []
    assert _stored_anywhere(server, saved.id) != []  # the scan finds what is stored

    assert [m.id for m in methods.list_payment_methods_by_customer(account_id, customer.id)] == [saved.id]
    assert methods.get_payment_method(account_id, saved.id).id == saved.id

    renamed = methods.update_payment_method(account_id, saved.id, name="Company card", metadata={"team": "ops"})
    assert (renamed.name, renamed.metadata) == ("Company card", {"team": "ops"})
    kept = methods.update_payment_method(account_id, saved.id, metadata={"cost_center": "7"})
    assert (kept.name, kept.metadata) == ("Company card", {"team": "ops", "cost_center": "7"})

    assert [m.id for m in methods.list_payment_methods_for_account(account_id)] == [saved.id]
    methods.delete_payment_method(account_id, saved.id)
    assert methods.get_payment_method(account_id, saved.id).is_active is False
    assert methods.list_payment_methods_by_customer(account_id, customer.id) == []
    assert methods.list_payment_methods_for_account(account_id) == []
    assert [m.id for m in methods.list_payment_methods_for_account(account_id, include_inactive=True)] == [saved.id]
    with pytest.raises(ApiError) as detached:
        methods.update_payment_method(account_id, saved.id, is_active=True)
    assert detached.value.status_code == 422

    # Another account's key sees none of it.
    other_id, other_secret = server.new_account()
    stranger = PaymentKit(base_url=server.base_url, token=other_secret, timeout=30)
    for call in (
        lambda: stranger.payment_methods.get_payment_method(other_id, saved.id),
        lambda: stranger.payment_methods.update_payment_method(other_id, saved.id, name="Mine"),
        lambda: stranger.payment_methods.delete_payment_method(other_id, saved.id),
        lambda: stranger.payment_methods.list_payment_methods_by_customer(other_id, customer.id),
    ):
        with pytest.raises(ApiError) as hidden:
            call()
        assert hidden.value.status_code == 404


@pytest.mark.parametrize(
    ("fields", "locs"),
    [
        ({"card_number": "4242424242424241"}, [["body", "card_number"]]),
        ({"expiry_year": "2001"}, [["body", "expiry_year"]]),
        ({"customer_id": "cus_nobody"}, [["body", "customer_id"]]),
        ({"card_number": "4000000000000069"}, [["body", "expiry_year"]]),  # the network says: expired
    ],
)
def test_a_card_that_cant_be_saved_is_a_field_error_and_nothing_is_stored(
    paymentkit: tuple[PaymentKit, str], server: Server, fields: dict[str, str], locs: list[list[str]]
) -> None:
    client, account_id = paymentkit
    _connect_simulator(server, account_id, _secret(client))
    customer = client.customers.create_customer(account_id, email="ada@example.com")
    card = {"customer_id": customer.id, "card_number": SECRET_NUMBER, "expiry_month": "12", "expiry_year": "2099"}

    with pytest.raises(UnprocessableEntityError) as refused:
        client.payment_methods.create_credit_card(account_id, **{**card, **fields})

    assert [problem.loc for problem in refused.value.body.detail or []] == locs
    assert all(problem.msg for problem in refused.value.body.detail or [])
    assert client.payment_methods.list_payment_methods_for_account(account_id, include_inactive=True) == []
    assert _stored_anywhere(server, fields.get("card_number", SECRET_NUMBER)) == []


def test_a_payment_method_without_payment_details_is_refused(paymentkit: tuple[PaymentKit, str]) -> None:
    client, account_id = paymentkit
    with pytest.raises(UnprocessableEntityError):
        client.payment_methods.create_payment_method(account_id, provider_type="credit_card", name="Card")


def test_a_recurring_checkout_fills_the_subscriptions_payment_method(
    paymentkit: tuple[PaymentKit, str], server: Server
) -> None:
    client, account_id = paymentkit
    secret = _secret(client)
    _connect_simulator(server, account_id, secret)
    with httpx.Client(base_url=server.base_url, headers=bearer(secret), timeout=30) as http:
        product = http.post(f"/api/{account_id}/products/", json={"name": "Pro"}).json()["id"]
        price = http.post(
            f"/api/{account_id}/prices/",
            json={
                "product_id": product,
                "currency": "usd",
                "unit_amount_atom": 1500,
                "recurring_interval": "month",
                "pricing_type": "recurring",
            },
        ).json()["id"]
    created = client.checkout_sessions.create_checkout_session(
        account_id,
        success_url="https://shop.example/ok",
        return_url="https://shop.example/cart",
        line_items=[CheckoutSessionLineItemCreate(price_id=price, quantity=1)],
    )
    assert created.model_extra is not None
    token = str(created.model_extra["url"]).rsplit("/", 1)[-1]
    paid = httpx.post(
        f"{server.base_url}/api/public/checkout/{token}/confirm",
        json={
            "payment_method": {"card": {"number": "378282246310005", "exp_month": 3, "exp_year": 2099, "cvc": "1234"}},
            "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
        },
        timeout=30,
    )
    assert paid.status_code == 200, paid.text
    assert paid.json()["state"] == "succeeded", paid.text

    [customer] = client.customers.list_customers(account_id).items
    [subscription] = client.subscriptions.list_subscriptions_by_customer(account_id, customer.id)
    method = subscription.payment_method
    assert method is not None
    assert (method.customer_id, method.name, method.is_active) == (customer.id, "Amex ending 0005", True)
    assert [m.id for m in client.payment_methods.list_payment_methods_by_customer(account_id, customer.id)] == [
        method.id
    ]
