"""Add-on and customer-exclusive prices through the ``payment-kit`` SDK against a real server."""

from __future__ import annotations

import pytest
from payment_kit import PaymentKit
from payment_kit.errors import UnprocessableEntityError
from payment_kit.types import CheckoutSessionLineItemCreate


def _checkout(client: PaymentKit, account_id: str, *price_ids: str, customer_id: str | None = None) -> str:
    created = client.checkout_sessions.create_checkout_session(
        account_id,
        success_url="https://shop.example/ok",
        return_url="https://shop.example/cart",
        line_items=[CheckoutSessionLineItemCreate(price_id=price_id) for price_id in price_ids],
        customer_id=customer_id,
    )
    return created.id


def _price_id(client: PaymentKit, account_id: str, name: str, **rules: list[str]) -> str:
    product = client.products.create_product(account_id, name=name)
    price = client.prices.create_price(
        account_id, product_id=product.id, currency="usd", unit_amount_atom=1500, **rules
    )
    return price.id


def test_an_add_on_needs_its_base_and_is_listed_by_it(paymentkit: tuple[PaymentKit, str]) -> None:
    client, account_id = paymentkit
    base = _price_id(client, account_id, "Pro")
    other = _price_id(client, account_id, "Basic")
    addon = _price_id(client, account_id, "Extra storage", prerequisite_price_ids=[base])
    assert client.prices.get_price(account_id, addon).prerequisite_price_ids == [base]

    with pytest.raises(UnprocessableEntityError) as refused:
        _checkout(client, account_id, other, addon)
    [problem] = refused.value.body.detail or []
    assert list(problem.loc) == ["body", "line_items", 1, "price_id"]
    assert addon in problem.msg
    assert _checkout(client, account_id, base, addon).startswith("cs_")

    listed = client.prices.list_add_on_prices(account_id, base)
    assert [price.id for price in listed.items] == [addon]
    assert client.prices.list_add_on_prices(account_id, other).total == 0


def test_an_exclusive_price_refuses_another_customer(paymentkit: tuple[PaymentKit, str]) -> None:
    client, account_id = paymentkit
    vip = client.customers.create_customer(account_id, email="vip@example.com").id
    someone = client.customers.create_customer(account_id, email="someone@example.com").id
    price = _price_id(client, account_id, "VIP deal", exclusive_customer_ids=[vip])
    assert client.prices.get_price(account_id, price).exclusive_customer_ids == [vip]

    for customer_id in (someone, None):
        with pytest.raises(UnprocessableEntityError) as refused:
            _checkout(client, account_id, price, customer_id=customer_id)
        assert [list(e.loc) for e in refused.value.body.detail or []] == [["body", "line_items", 0, "price_id"]]
    assert _checkout(client, account_id, price, customer_id=vip).startswith("cs_")

    with pytest.raises(UnprocessableEntityError) as unknown:
        _price_id(client, account_id, "Ghost deal", exclusive_customer_ids=["cus_nobody"])
    assert [list(e.loc) for e in unknown.value.body.detail or []] == [["body", "exclusive_customer_ids", 0]]
