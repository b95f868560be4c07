"""Payments and payment methods through ``paid-python`` against a real server, on both backends: the payments
checkouts and renewals made, numbered, in minor units, with the order each paid; a customer's saved cards, its
default chosen (which its subscriptions then charge), and a card deleted.

Customers pay through the server's public checkout API on a test clock, as in :mod:`tests.compat.test_paid_orders`.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from paid.core.api_error import ApiError
from paid.errors import BadRequestError

from tests.compat.billing import merchant
from tests.compat.test_paid_orders import buy_once, extra, one_time_price, order_of, paid_client, plans
from tests.compat.test_paymentkit_plan_changes import MAY, subscribe
from tests.invoices.factory import SAVES_THEN_DECLINES
from tests.support import Server

MASTERCARD = "5555555555554444"


def test_payments_are_listed_numbered_with_the_order_they_paid(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    price = plans(shop)
    clock_id, subscription_id = subscribe(shop, price["basic"], number=SAVES_THEN_DECLINES)
    customer_id = shop.client.subscriptions.get_subscription(shop.account_id, subscription_id).customer_id
    purchase_id = buy_once(shop, one_time_price(shop), customer_id)
    paid = paid_client(shop)

    listed = paid.payments.list_payments()

    purchase, first = listed.data
    assert (listed.pagination.total, [p.number for p in listed.data]) == (2, [2, 1])
    assert (first.amount, first.currency, first.status, first.payment_type) == (1000, "USD", "posted", "creditCard")
    assert (first.order_id, first.customer_id, first.allocated_amount, first.balance) == (
        order_of(subscription_id),
        customer_id,
        1000,
        0,
    )
    assert first.invoice_id is not None
    assert (purchase.amount, purchase.order_id) == (5100, "ord_" + purchase_id.removeprefix("cs_"))
    assert paid.payments.get_payment(first.id) == first

    # The renewal's charge is declined: a failed payment, allocated to nothing.
    shop.advance(clock_id, MAY + timedelta(hours=1))
    [failed] = paid.payments.list_payments(status="failed").data
    assert (failed.number, failed.amount, failed.allocated_amount, failed.order_id) == (
        3,
        1000,
        0,
        order_of(subscription_id),
    )
    assert [p.number for p in paid.payments.list_payments(customer_id=customer_id, status="posted").data] == [2, 1]
    assert paid.payments.list_payments(status="draft").data == []
    assert paid.payments.list_payments(external_customer_id="nobody").data == []
    assert [p.number for p in paid.payments.list_payments(limit=1, offset=1).data] == [2]

    with pytest.raises(ApiError) as unknown:
        paid.payments.get_payment("pay_nothing")
    assert unknown.value.status_code == 404
    with pytest.raises(BadRequestError) as refused:
        paid.payments.create_payment(customer_id=customer_id, amount=100, currency="USD", payment_type="cash")
    assert refused.value.body["code"] == "not_supported"


def test_a_customers_cards_its_default_and_a_card_deleted(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    price = plans(shop)
    _clock_id, subscription_id = subscribe(shop, price["basic"])
    subscription = shop.client.subscriptions.get_subscription(shop.account_id, subscription_id)
    assert subscription.payment_method is not None
    checkout_card, customer_id = subscription.payment_method.id, subscription.customer_id
    second = shop.client.payment_methods.create_credit_card(
        shop.account_id, customer_id=customer_id, card_number=MASTERCARD, expiry_month="12", expiry_year="2099"
    )
    paid = paid_client(shop)

    newest, oldest = paid.payment_methods.list_payment_methods(customer_id=customer_id).data

    assert (newest.id, oldest.id) == (second.id, checkout_card)
    assert (newest.is_default, oldest.is_default) == (True, False)  # none chosen yet: the newest card
    assert (newest.customer_id, newest.type) == (customer_id, "card")
    assert newest.card is not None
    assert (newest.card.brand, newest.card.last4, newest.card.exp_month, newest.card.exp_year) == (
        "mastercard",
        "4444",
        12,
        2099,
    )
    assert newest.external_payment_method_id not in (newest.id, "")

    chosen = paid.payment_methods.update_default_payment_method(checkout_card)
    assert chosen.is_default
    assert [(m.id, m.is_default) for m in paid.payment_methods.list_payment_methods().data] == [
        (second.id, False),
        (checkout_card, True),
    ]

    # The subscription charges the customer's default from its next renewal on.
    paid.payment_methods.update_default_payment_method(second.id)
    charged = shop.client.subscriptions.get_subscription(shop.account_id, subscription_id).payment_method
    assert charged is not None
    assert charged.id == second.id

    paid.payment_methods.delete_payment_method(second.id)
    paid.payment_methods.delete_payment_method(second.id)  # twice: nothing more happens
    [left] = paid.payment_methods.list_payment_methods(customer_id=customer_id).data
    assert (left.id, left.is_default) == (checkout_card, True)
    detached = paid.payment_methods.get_payment_method(second.id)
    assert (extra(detached)["isActive"], detached.is_default) == (False, False)
    with pytest.raises(BadRequestError) as refused:
        paid.payment_methods.update_default_payment_method(second.id)
    assert refused.value.body["code"] == "payment_method_detached"
    with pytest.raises(ApiError) as unknown:
        paid.payment_methods.get_payment_method("pm_nothing")
    assert unknown.value.status_code == 404
    with pytest.raises(BadRequestError) as not_served:
        paid.payment_methods.create_payment_method(customer_id=customer_id, confirmation_token="ctoken_1")
    assert not_served.value.body["code"] == "not_supported"
