"""Billing on Stripe end to end, against localstripe and a real server with its worker, on both backends: a
checkout of a monthly plan saves the card as a PaymentMethod attached to a Stripe customer; advancing the customer's
test clock past the period's end makes the worker charge that method off-session (the customer isn't there); and a
refund of the renewal made through the SDK reaches Stripe."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.compat.billing import AMOUNT, merchant
from tests.localstripe import LocalStripe
from tests.support import Server


def test_a_stripe_subscription_renews_off_session_on_the_saved_method_and_its_refund_reaches_stripe(
    server: Server, localstripe: LocalStripe
) -> None:
    shop = merchant(server)
    shop.stripe(localstripe.api_base)
    pm = localstripe.card_method("4242424242424242")
    made = shop.subscribe({"payment_method_id": pm})

    [saved] = shop.client.payment_methods.list_payment_methods_by_customer(shop.account_id, made.customer_id)
    subscription = shop.client.subscriptions.get_subscription(shop.account_id, made.subscription_id)
    assert subscription.payment_method is not None
    assert subscription.payment_method.id == saved.id
    stripe_customer = localstripe._call("GET", f"/v1/payment_methods/{pm}")["customer"]
    assert str(stripe_customer).startswith("cus_")

    shop.advance(made.clock_id, datetime(2028, 3, 5, tzinfo=UTC))

    [_, renewal] = shop.invoices(made.subscription_id)
    assert (renewal.billing_reason, renewal.status, renewal.paid_amount_atom) == ("subscription_cycle", "paid", AMOUNT)
    [_, renewal_attempt] = shop.attempts()
    assert (renewal_attempt.status, renewal_attempt.payment_method_id) == ("succeeded", saved.id)
    assert renewal_attempt.processor_metadata is not None
    intent_id = renewal_attempt.processor_metadata["processor_reference"]
    intent = localstripe.payment_intent(intent_id)
    assert (intent["status"], intent["amount"], intent["currency"]) == ("succeeded", AMOUNT, "usd")
    assert (intent["payment_method"], intent["customer"], intent["off_session"]) == (pm, stripe_customer, True)

    refund = shop.client.payments_refunds.create_refund(
        shop.account_id, payment_attempt_external_id=renewal_attempt.id, amount_atom=400
    )
    assert (refund.status, refund.amount_atom) == ("succeeded", 400)
    [at_stripe] = localstripe.refunds_of(intent_id)
    assert (at_stripe["amount"], at_stripe["status"]) == (400, "succeeded")
    renewed = shop.client.subscriptions.get_subscription(shop.account_id, made.subscription_id)
    assert (renewed.state, renewed.current_period_end) == ("active", datetime(2028, 3, 31, 10, 0, tzinfo=UTC))
