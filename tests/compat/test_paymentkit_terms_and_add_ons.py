"""Contract terms and add-ons on a subscription through the ``payment-kit`` SDK against a real server and its worker,
on both backends: a monthly price committing for three months that does not renew, paid through the public checkout
API on a test clock and billed to its term's end; an add-on bought in a second checkout beside the base its customer
holds (and refused to a customer without it); add-on items added and removed through ``update_subscription_items``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from payment_kit import UpdateSubscriptionItemPayload
from payment_kit.core.api_error import ApiError
from payment_kit.errors import UnprocessableEntityError
from payment_kit.types import CheckoutSession, CheckoutSessionLineItemCreate

from tests.compat.billing import Merchant, card, merchant
from tests.payments.flow import GOOD_CARD
from tests.support import Server


def at(month: int, day: int) -> datetime:
    return datetime(2028, month, day, 10, 0, tzinfo=UTC)


def _monthly(shop: Merchant, name: str, amount: int, **terms: object) -> str:
    product = shop.client.products.create_product(shop.account_id, name=name)
    price = shop.client.prices.create_price(
        shop.account_id,
        product_id=product.id,
        currency="usd",
        unit_amount_atom=amount,
        recurring_interval="month",
        **terms,  # type: ignore[arg-type]
    )
    return price.id


def test_a_three_month_term_that_does_not_renew_ends_on_the_test_clock(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    price_id = _monthly(shop, "Pro", 900, contract_term_multiple=3, auto_renew=False)
    price = shop.client.prices.get_price(shop.account_id, price_id)
    assert (price.contract_term_multiple, price.auto_renew) == (3, False)
    made = shop.subscribe(card(GOOD_CARD), price_id=price_id)
    subscriptions = shop.client.subscriptions

    first = subscriptions.get_subscription(shop.account_id, made.subscription_id)
    assert first.model_extra is not None
    assert first.model_extra["contract_term_end"] == "2028-04-30T10:00:00Z"
    assert [(item.price.contract_term_multiple, item.price.auto_renew) for item in first.items] == [(3, False)]
    with pytest.raises(ApiError) as early:
        subscriptions.cancel_subscription(shop.account_id, made.subscription_id)
    assert early.value.status_code == 409
    assert isinstance(early.value.body, dict)
    assert early.value.body["code"] == "contract_term_commitment"

    shop.advance(made.clock_id, at(4, 15))
    last_period = subscriptions.get_next_action(shop.account_id, made.subscription_id)
    assert (last_period.action, last_period.reason) == ("cancel", "contract_term_end")

    shop.advance(made.clock_id, at(8, 1))

    ended = subscriptions.get_subscription(shop.account_id, made.subscription_id)
    assert ended.state == "canceled"
    assert ended.model_extra is not None
    assert ended.model_extra["contract_term_end"] is None
    checkout_invoice, *renewals = shop.invoices(made.subscription_id)
    assert checkout_invoice.billing_reason == "subscription_create"
    assert [(invoice.period_start, invoice.period_end) for invoice in renewals] == [
        (at(2, 29), at(3, 31)),
        (at(3, 31), at(4, 30)),
    ]
    assert [invoice.status for invoice in renewals] == ["paid", "paid"]
    assert shop.charged() == [900, 900, 900]
    events = shop.event_types(made.subscription_id)
    assert events.count("subscription.renewed") == 2
    assert events[-1] == "subscription.canceled"


def test_an_add_on_is_bought_beside_the_base_its_customer_holds(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    made = shop.subscribe(card(GOOD_CARD))
    subscriptions = shop.client.subscriptions
    [base_item] = subscriptions.get_subscription(shop.account_id, made.subscription_id).items
    add_on = _monthly(shop, "Extra storage", 300, prerequisite_price_ids=[base_item.price.id])
    stranger = shop.client.customers.create_customer(shop.account_id, email="someone@example.com").id

    def checkout(customer_id: str) -> CheckoutSession:
        return shop.client.checkout_sessions.create_checkout_session(
            shop.account_id,
            success_url="https://shop.example/ok",
            return_url="https://shop.example/cart",
            line_items=[CheckoutSessionLineItemCreate(price_id=add_on)],
            customer_id=customer_id,
        )

    with pytest.raises(UnprocessableEntityError) as refused:
        checkout(stranger)
    [problem] = refused.value.body.detail or []
    assert list(problem.loc) == ["body", "line_items", 0, "price_id"]
    assert add_on in problem.msg

    sold = checkout(made.customer_id)
    paid = httpx.post(
        f"{server.base_url}/api/public/checkout/{sold.secure_token}/confirm",
        json={"payment_method": card(GOOD_CARD)},
        timeout=60,
    )
    assert paid.status_code == 200, paid.text
    assert paid.json()["state"] == "succeeded", paid.text

    # A purchase of its own, beside the subscription holding the base, which is left as it is.
    held = subscriptions.list_subscriptions_by_customer(shop.account_id, made.customer_id)
    assert sorted([item.price.id for item in subscription.items] for subscription in held) == sorted(
        [[base_item.price.id], [add_on]]
    )
    assert shop.charged() == [900, 300]


def test_add_on_items_through_the_subscription_items_api(server: Server) -> None:
    shop = merchant(server)
    shop.simulator()
    made = shop.subscribe(card(GOOD_CARD))
    subscriptions = shop.client.subscriptions
    [base_item] = subscriptions.get_subscription(shop.account_id, made.subscription_id).items
    add_on = _monthly(shop, "Extra storage", 300, prerequisite_price_ids=[base_item.price.id])
    support = _monthly(shop, "Support", 500)

    subscriptions.update_subscription_items(
        shop.account_id, made.subscription_id, items=[UpdateSubscriptionItemPayload(price_id=add_on, quantity=2)]
    )
    added = subscriptions.get_subscription(shop.account_id, made.subscription_id)
    assert [(item.price.id, item.quantity) for item in added.items] == [(base_item.price.id, 1), (add_on, 2)]

    with pytest.raises(UnprocessableEntityError) as removed:
        subscriptions.update_subscription_items(
            shop.account_id,
            made.subscription_id,
            items=[
                UpdateSubscriptionItemPayload(price_id=support),
                UpdateSubscriptionItemPayload(id=base_item.id, deleted=True),
            ],
        )
    [problem] = removed.value.body.detail or []
    assert list(problem.loc) == ["body", "items", 1, "id"]
    assert base_item.id in problem.msg
    unchanged = subscriptions.get_subscription(shop.account_id, made.subscription_id)
    assert [item.price.id for item in unchanged.items] == [base_item.price.id, add_on]

    add_on_item = unchanged.items[1]
    subscriptions.update_subscription_items(
        shop.account_id,
        made.subscription_id,
        items=[
            UpdateSubscriptionItemPayload(price_id=support),
            UpdateSubscriptionItemPayload(id=base_item.id, deleted=True),
            UpdateSubscriptionItemPayload(id=add_on_item.id, deleted=True),
        ],
    )
    both = subscriptions.get_subscription(shop.account_id, made.subscription_id)
    assert [item.price.id for item in both.items] == [support]
