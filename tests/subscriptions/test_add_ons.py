"""Add-ons whose base is on the customer's subscription, at the service level on both backends: a checkout sells
one alone to a customer whose live subscription holds its base (and to nobody else), and a subscription's items keep
every add-on beside one of its bases."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.checkout import service as checkout_service
from checkstand.core.errors import InvalidFields
from checkstand.customers import service as customers
from checkstand.payments import plan_change_sessions
from checkstand.subscriptions import changes
from checkstand.subscriptions import service as subscriptions
from checkstand.subscriptions.models import Subscription
from tests.subscriptions.factory import PAYMENT_METHOD, checkout_for, subscribe


@pytest.fixture
def account_id(merchant: tuple[str, str]) -> str:
    return merchant[0]


@dataclass(frozen=True)
class Catalog:
    base: str
    other_base: str
    add_on: str
    plain: str


async def _monthly(session: AsyncSession, account_id: str, name: str, *bases: str) -> str:
    product = await catalog.create_product(session, account_id, name=name)
    price = await catalog.create_price(
        session,
        account_id,
        product_id=product.id,
        currency="usd",
        unit_amount_atom=1000,
        recurring_interval="month",
        prerequisite_price_ids=bases,
    )
    return price.id


async def _catalog(session: AsyncSession, account_id: str) -> Catalog:
    """Two base plans, an add-on of either (on a product of its own), and a plan with no add-on."""
    base = await _monthly(session, account_id, "Pro")
    other_base = await _monthly(session, account_id, "Team")
    add_on = await _monthly(session, account_id, "Extra storage", base, other_base)
    return Catalog(base, other_base, add_on, await _monthly(session, account_id, "Support"))


def _spec(*price_ids: str, customer_id: str | None) -> checkout_service.NewCheckoutSession:
    return checkout_service.NewCheckoutSession(
        success_url="https://shop.example/ok",
        return_url="https://shop.example/cart",
        line_items=[checkout_service.LineItemSpec(price_id) for price_id in price_ids],
        customer_id=customer_id,
    )


async def _subscribed(session: AsyncSession, account_id: str, *price_ids: str) -> Subscription:
    subscription = await subscribe(session, await checkout_for(session, account_id, price_ids))
    assert subscription is not None
    return subscription


async def test_a_checkout_sells_an_add_on_on_the_base_its_customer_holds(
    session: AsyncSession, account_id: str
) -> None:
    prices = await _catalog(session, account_id)
    holder = await _subscribed(session, account_id, prices.base)
    stranger = await customers.create_customer(session, account_id, email="someone@example.com")

    sold = await checkout_service.create_session(
        session,
        account_id,
        _spec(prices.add_on, customer_id=holder.customer_id),
        held_prices=subscriptions.held_price_ids,
    )
    assert [line.price_id for line in sold.line_items] == [prices.add_on]

    for customer_id in (stranger.id, None):
        with pytest.raises(InvalidFields) as refused:
            await checkout_service.create_session(
                session,
                account_id,
                _spec(prices.add_on, customer_id=customer_id),
                held_prices=subscriptions.held_price_ids,
            )
        [problem] = refused.value.problems
        assert (problem.path, problem.type) == (("line_items", 0, "price_id"), "price_not_sellable")
        assert prices.add_on in problem.msg

    # Added to an open session of the holder's, too; a stranger's session refuses it.
    opened = await checkout_service.create_session(
        session, account_id, _spec(prices.plain, customer_id=holder.customer_id)
    )
    line = await checkout_service.add_line_item(
        session,
        account_id,
        opened.id,
        checkout_service.LineItemSpec(prices.add_on),
        held_prices=subscriptions.held_price_ids,
    )
    assert line.price_id == prices.add_on
    theirs = await checkout_service.create_session(session, account_id, _spec(prices.plain, customer_id=stranger.id))
    with pytest.raises(InvalidFields) as added:
        await checkout_service.add_line_item(
            session,
            account_id,
            theirs.id,
            checkout_service.LineItemSpec(prices.add_on),
            held_prices=subscriptions.held_price_ids,
        )
    assert [p.path for p in added.value.problems] == [("price_id",)]


async def test_a_canceled_subscription_holds_no_base(session: AsyncSession, account_id: str) -> None:
    prices = await _catalog(session, account_id)
    holder = await _subscribed(session, account_id, prices.base)
    await subscriptions.cancel(session, account_id, holder.id)

    assert await subscriptions.held_price_ids(session, account_id, holder.customer_id) == set()
    with pytest.raises(InvalidFields):
        await checkout_service.create_session(
            session,
            account_id,
            _spec(prices.add_on, customer_id=holder.customer_id),
            held_prices=subscriptions.held_price_ids,
        )


async def test_an_add_on_item_needs_its_base_among_the_items(session: AsyncSession, account_id: str) -> None:
    prices = await _catalog(session, account_id)
    subscription = await _subscribed(session, account_id, prices.base)
    [base_item] = subscription.items

    plain = await _subscribed(session, account_id, prices.plain)
    with pytest.raises(InvalidFields) as without:
        await changes.update_items(session, account_id, plain.id, [changes.ItemChange(price_id=prices.add_on)])
    [problem] = without.value.problems
    assert (problem.path, problem.type) == (("items", 0, "price_id"), "add_on_without_base")

    added = await changes.update_items(
        session, account_id, subscription.id, [changes.ItemChange(price_id=prices.add_on, quantity=3)]
    )
    assert [(item.price_id, item.quantity) for item in added.items] == [(prices.base, 2), (prices.add_on, 3)]
    add_on_item = added.items[1]

    with pytest.raises(InvalidFields) as removed:
        await changes.update_items(
            session,
            account_id,
            subscription.id,
            [changes.ItemChange(price_id=prices.plain), changes.ItemChange(id=base_item.id, deleted=True)],
        )
    [problem] = removed.value.problems
    assert (problem.path, problem.type) == (("items", 1, "id"), "add_on_base_removed")
    assert base_item.id in problem.msg
    assert add_on_item.id in problem.msg
    with pytest.raises(InvalidFields) as moved:
        await changes.update_items(
            session, account_id, subscription.id, [changes.ItemChange(id=base_item.id, price_id=prices.plain)]
        )
    assert [p.path for p in moved.value.problems] == [("items", 0, "price_id")]
    assert [
        item.price_id for item in (await subscriptions.get_subscription(session, account_id, subscription.id)).items
    ] == [
        prices.base,
        prices.add_on,
    ]

    # Another base of the add-on keeps it; so does removing the add-on with its base.
    swapped = await changes.update_items(
        session, account_id, subscription.id, [changes.ItemChange(id=base_item.id, price_id=prices.other_base)]
    )
    assert [item.price_id for item in swapped.items] == [prices.other_base, prices.add_on]
    both = await changes.update_items(
        session,
        account_id,
        subscription.id,
        [
            changes.ItemChange(price_id=prices.plain),
            changes.ItemChange(id=base_item.id, deleted=True),
            changes.ItemChange(id=add_on_item.id, deleted=True),
        ],
    )
    assert [item.price_id for item in both.items] == [prices.plain]


async def test_an_add_on_bought_beside_another_subscription_may_change(session: AsyncSession, account_id: str) -> None:
    prices = await _catalog(session, account_id)
    holder = await _subscribed(session, account_id, prices.base)
    checkout = await checkout_service.create_session(
        session,
        account_id,
        _spec(prices.add_on, customer_id=holder.customer_id),
        held_prices=subscriptions.held_price_ids,
    )
    add_on_only = await subscriptions.create_from_checkout(
        session,
        checkout,
        tier=0,
        customer_id=holder.customer_id,
        payment_method_reference=PAYMENT_METHOD,
        processor_id="proc_simulator",
    )
    assert add_on_only is not None
    [item] = add_on_only.items

    changed = await changes.update_items(
        session, account_id, add_on_only.id, [changes.ItemChange(id=item.id, quantity=5)]
    )

    assert [(i.price_id, i.quantity) for i in changed.items] == [(prices.add_on, 5)]


async def test_an_add_on_of_the_held_products_plan_is_no_plan_change(session: AsyncSession, account_id: str) -> None:
    prices = await _catalog(session, account_id)
    holder = await _subscribed(session, account_id, prices.base)
    [item] = holder.items
    seats = await catalog.create_price(
        session,
        account_id,
        product_id=item.product_id,
        currency="usd",
        unit_amount_atom=400,
        recurring_interval="month",
        prerequisite_price_ids=[prices.base],
    )

    checkout = await checkout_service.create_session(
        session,
        account_id,
        _spec(seats.id, customer_id=holder.customer_id),
        plan_change=plan_change_sessions.price_session,
        held_prices=subscriptions.held_price_ids,
    )

    # Bought beside the plan, not instead of it: a purchase of its own, which leaves the subscription as it is.
    assert (checkout.changes_subscription_id, checkout.proration) == (None, None)
