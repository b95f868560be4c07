"""The ``payment-kit`` SDK's subscription calls against a real server: every response must parse.

Each test writes a subscription into the server's database through the subscriptions service, as a checkout's
completion transaction does, and saved cards as the payment methods module stores them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from payment_kit import CreateSubscriptionItemPayload, PaymentKit, UpdateSubscriptionItemPayload
from payment_kit.core.api_error import ApiError
from payment_kit.errors.unprocessable_entity_error import UnprocessableEntityError

from checkstand.catalog import service as catalog
from checkstand.core.ids import new_id
from checkstand.custom_fields import service as custom_fields
from checkstand.payment_methods.models import SavedPaymentMethod
from checkstand.processors import connections
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


def _saved_method_in_server(server: Server, account_id: str, customer_id: str) -> str:
    """A saved card of the customer, as the payment methods module stores one after the processor vaulted it."""

    async def make() -> str:
        database = connect_url(server.database_url)
        try:
            async with database.writing() as session:
                processor = await connections.connect_simulator(session, account_id, name="Vault")
                method = SavedPaymentMethod(
                    id=new_id("pm"),
                    account_id=account_id,
                    customer_id=customer_id,
                    processor_id=processor.id,
                    processor_reference=new_id("simpm"),
                    brand="visa",
                    last4="4242",
                    exp_month=12,
                    exp_year=2099,
                    is_active=True,
                    method_metadata={},
                )
                session.add(method)
                await session.commit()
                return method.id
        finally:
            await database.dispose()

    return asyncio.run(make())


def test_pause_resume_update_and_next_action(paymentkit: tuple[PaymentKit, str], server: Server) -> None:
    client, account_id = paymentkit
    subscription_id, _ = _subscription_in_server(server, account_id)
    subs = client.subscriptions

    assert subs.get_next_action(account_id, subscription_id).action == "schedule_billing"
    paused = subs.pause_subscription(account_id, subscription_id)
    assert paused.state == "paused"
    assert subs.get_next_action(account_id, subscription_id).action == "stop"
    with pytest.raises(ApiError) as twice:
        subs.pause_subscription(account_id, subscription_id)
    assert twice.value.status_code == 409
    assert subs.resume_subscription(account_id, subscription_id).state == "active"

    updated = subs.update_subscription(account_id, subscription_id, description="Team plan", cancel_at_period_end=True)
    assert (updated.subscription_id, updated.updated_fields) == (
        subscription_id,
        ["cancel_at_period_end", "description"],
    )
    assert updated.lifecycle_triggered is True
    assert subs.get_subscription(account_id, subscription_id).description == "Team plan"
    action = subs.get_next_action(account_id, subscription_id)
    assert (action.action, action.reason) == ("cancel", "cancel_at_period_end")

    events = client.events.list_events(account_id, limit=50)
    types = [event.type for event in events.items if event.data is not None]
    assert {"subscription.paused", "subscription.resumed", "subscription.updated"} <= set(types)


def test_items_change_shows_in_the_preview(paymentkit: tuple[PaymentKit, str], server: Server) -> None:
    client, account_id = paymentkit
    subscription_id, _ = _subscription_in_server(server, account_id)
    subs = client.subscriptions
    [item] = subs.get_subscription(account_id, subscription_id).items

    result = subs.update_subscription_items(
        account_id,
        subscription_id,
        items=[UpdateSubscriptionItemPayload(id=item.id, quantity=5)],
        proration_behavior="none",
    )
    assert (result.subscription_id, result.invoice_id, result.proration_amount_atom) == (subscription_id, None, 0)
    preview = subs.preview_subscription(account_id, subscription_id)
    assert [(line.quantity, line.amount_atom) for line in preview.upcoming_invoice.line_items] == [(5, 7500)]
    assert preview.upcoming_invoice.total_atom == 7500

    with pytest.raises(UnprocessableEntityError) as quoted:
        subs.update_subscription_items(
            account_id,
            subscription_id,
            items=[UpdateSubscriptionItemPayload(id=item.id, quantity=1)],
            proration_behavior="create_prorations",
            proration_date=datetime.now(UTC) + timedelta(days=1),
        )
    [detail] = quoted.value.body.detail or []
    assert detail.loc == ["body", "proration_date"]
    assert "future" in detail.msg
    assert subs.get_subscription(account_id, subscription_id).items[0].quantity == 5


def test_bad_input_is_a_422_naming_the_fields_and_changes_nothing(
    paymentkit: tuple[PaymentKit, str], server: Server
) -> None:
    client, account_id = paymentkit
    subscription_id, _ = _subscription_in_server(server, account_id)
    with pytest.raises(UnprocessableEntityError) as refused:
        client.subscriptions.update_subscription(
            account_id, subscription_id, description="never", coupon_id="coupon_x", default_payment_method_id="pm_nope"
        )
    locs = sorted(tuple(detail.loc) for detail in refused.value.body.detail or [])
    assert locs == [("body", "coupon_id"), ("body", "default_payment_method_id")]
    assert client.subscriptions.get_subscription(account_id, subscription_id).description is None


def test_a_canceled_subscription_refuses_changes_and_another_account_sees_none(
    paymentkit: tuple[PaymentKit, str], server: Server
) -> None:
    client, account_id = paymentkit
    subscription_id, _ = _subscription_in_server(server, account_id)
    other_id, other_secret = server.new_account()
    other = PaymentKit(base_url=server.base_url, token=other_secret, timeout=30)
    with pytest.raises(ApiError) as foreign:
        other.subscriptions.pause_subscription(other_id, subscription_id)
    assert foreign.value.status_code == 404

    client.subscriptions.cancel_subscription(account_id, subscription_id)
    for change in (
        lambda: client.subscriptions.update_subscription(account_id, subscription_id, description="x"),
        lambda: client.subscriptions.pause_subscription(account_id, subscription_id),
        lambda: client.subscriptions.update_subscription_items(
            account_id, subscription_id, items=[UpdateSubscriptionItemPayload(price_id="price_x", quantity=1)]
        ),
    ):
        with pytest.raises(ApiError) as conflict:
            change()
        assert conflict.value.status_code == 409
    assert client.subscriptions.get_next_action(account_id, subscription_id).action == "stop"


def test_create_with_a_trial_charges_nothing_and_activation_waits_for_its_end(
    paymentkit: tuple[PaymentKit, str], server: Server
) -> None:
    client, account_id = paymentkit
    subscription_id, customer_id = _subscription_in_server(server, account_id)
    method_id = _saved_method_in_server(server, account_id, customer_id)
    price_id = client.subscriptions.get_subscription(account_id, subscription_id).items[0].price.id
    now = datetime.now(UTC)

    created = client.subscriptions.create_subscription(
        account_id,
        customer_id=customer_id,
        period_start=now,
        trial_end=now + timedelta(days=10),
        items=[CreateSubscriptionItemPayload(price_id=price_id, quantity=1)],
        description="Trial via API",
    )
    assert created.state == "trialing"
    assert created.description == "Trial via API"
    assert created.model_extra is not None
    assert created.model_extra["default_payment_method_id"] is not None
    assert client.subscriptions.get_subscription_invoices(account_id, created.id).items == []
    assert method_id

    with pytest.raises(ApiError) as early:
        client.subscriptions.activate_subscription(account_id, created.id)
    assert early.value.status_code == 400
    skipped = client.subscriptions.activate_subscription(account_id, created.id, from_workflow=True)
    assert skipped.status == "skipped"  # type: ignore[union-attr]
    assert client.subscriptions.get_next_action(account_id, created.id).action == "notify_trial_ending"


def test_create_refuses_bad_input_naming_the_fields(paymentkit: tuple[PaymentKit, str], server: Server) -> None:
    client, account_id = paymentkit
    subscription_id, customer_id = _subscription_in_server(server, account_id)
    with pytest.raises(UnprocessableEntityError) as refused:
        client.subscriptions.create_subscription(
            account_id,
            customer_id=customer_id,
            period_start=datetime.now(UTC),
            items=[CreateSubscriptionItemPayload(price_id="price_nope", quantity=1)],
            net_d=30,
        )
    locs = sorted(tuple(detail.loc) for detail in refused.value.body.detail or [])
    assert locs == [("body", "default_payment_method_id"), ("body", "items", 0, "price_id"), ("body", "net_d")]
    assert [s.id for s in client.subscriptions.list_subscriptions_by_customer(account_id, customer_id)] == [
        subscription_id
    ]
