"""The ``payment-kit`` SDK's subscription calls against a real server: every response must parse.

The payment flow that creates subscriptions is not in the server yet, so each test writes one into the server's
database through the subscriptions service, as the completion transaction will."""

from __future__ import annotations

import asyncio

import pytest
from payment_kit import PaymentKit
from payment_kit.core.api_error import ApiError

from checkstand.catalog import service as catalog
from checkstand.custom_fields import service as custom_fields
from tests.subscriptions.factory import PAYMENT_METHOD, checkout_for, recurring_price, subscribe
from tests.support import Server, connect_url


def _subscription_in_server(server: Server, account_id: str) -> tuple[str, str]:
    """A committed subscription (monthly, with a one-time add-on that must not become an item): (id, customer id)."""

    async def make() -> tuple[str, str]:
        database = connect_url(server.database_url)
        try:
            async with database.writing() as session:
                product = await catalog.create_product(session, account_id, name="Pro")
                addon = await catalog.create_price(
                    session, account_id, product_id=product.id, currency="usd", unit_amount_atom=300
                )
                monthly = await recurring_price(session, account_id, product.id, amount=1500)
                await custom_fields.create_definition(
                    session,
                    account_id,
                    field_key="seats",
                    entity_type="subscription",
                    data_type="number",
                    display_name="Seats",
                )
                checkout = await checkout_for(
                    session, account_id, [addon.id, monthly], subscription_custom_fields={"seats": 4}
                )
                subscription = await subscribe(session, checkout)
                assert subscription is not None
                await session.commit()
                return subscription.id, subscription.customer_id
        finally:
            await database.dispose()

    return asyncio.run(make())


def test_get_list_and_by_customer_parse(paymentkit: tuple[PaymentKit, str], server: Server) -> None:
    client, account_id = paymentkit
    subscription_id, customer_id = _subscription_in_server(server, account_id)

    got = client.subscriptions.get_subscription(account_id, subscription_id, expand=["custom_fields"])
    assert (got.id, got.state, got.currency) == (subscription_id, "active", "usd")
    assert got.customer.id == customer_id
    assert [(item.price.unit_amount_atom, item.quantity) for item in got.items] == [(1500, 2)]
    assert got.custom_fields == {"seats": 4}
    assert got.model_extra is not None
    assert got.model_extra["default_payment_method_id"] == PAYMENT_METHOD

    listed = client.subscriptions.list_subscriptions(account_id, state="active", customer_external_id=customer_id)
    assert ([s.id for s in listed.items], listed.total, listed.has_more) == ([subscription_id], 1, False)
    assert client.subscriptions.list_subscriptions(account_id, state="trialing").items == []

    mine = client.subscriptions.list_subscriptions_by_customer(account_id, customer_id)
    assert [s.id for s in mine] == [subscription_id]


def test_cancel_at_period_end_then_cancel(paymentkit: tuple[PaymentKit, str], server: Server) -> None:
    client, account_id = paymentkit
    subscription_id, _ = _subscription_in_server(server, account_id)

    scheduled = client.subscriptions.set_cancel_at_period_end(account_id, subscription_id, value=True)
    assert scheduled.model_extra is not None
    assert scheduled.model_extra["cancel_at_period_end"] is True

    canceled = client.subscriptions.cancel_subscription(account_id, subscription_id)
    assert canceled.state == "canceled"
    with pytest.raises(ApiError) as again:
        client.subscriptions.cancel_subscription(account_id, subscription_id)
    assert again.value.status_code == 409
    assert client.subscriptions.get_subscription(account_id, subscription_id).state == "canceled"


def test_an_unknown_subscription_is_a_404(paymentkit: tuple[PaymentKit, str]) -> None:
    client, account_id = paymentkit
    with pytest.raises(ApiError) as missing:
        client.subscriptions.get_subscription(account_id, "sub_nope")
    assert missing.value.status_code == 404
