"""The ``payment-kit`` SDK's payment intents and payment attempts against a real server: every checkout payment is an
intent with the attempt (charge) that took its money, and every response parses as the SDK's types."""

from __future__ import annotations

import json

import pytest
from payment_kit import PaymentKit
from payment_kit.core.api_error import ApiError
from payment_kit.errors.unprocessable_entity_error import UnprocessableEntityError

from tests.compat.paid_checkouts import pay
from tests.support import Server


def test_a_checkout_payment_is_listed_as_an_intent_with_its_attempt(
    paymentkit: tuple[PaymentKit, str], server: Server
) -> None:
    client, account_id = paymentkit
    paid = pay(server, account_id, amount_atom=2500)
    pay(server, account_id, amount_atom=700)

    listed = client.payments_intents.list_intents(
        account_id, filter=json.dumps({"checkout_session_id": paid.checkout_session_id})
    )
    [intent] = listed.items
    assert (listed.total, listed.has_more) == (1, False)
    assert (intent.account_id, intent.amount_atom, intent.currency, intent.status) == (
        account_id,
        2500,
        "usd",
        "succeeded",
    )
    assert (intent.amount_atom_received, intent.attempt_count, intent.customer_email) == (
        2500,
        1,
        "ada@example.com",
    )
    assert intent.processor is not None
    assert intent.processor.name == "Sim"

    everything = client.payments_intents.list_intents(account_id, sort_by="amount_atom", sort_order=1)
    assert [i.amount_atom for i in everything.items] == [700, 2500]

    attempts = client.payments_payment_attempts.list_attempts_by_intent(account_id, intent.id)
    [attempt] = attempts.items
    assert (attempt.payment_intent_id, attempt.customer_id, attempt.amount_atom, attempt.status) == (
        intent.id,
        intent.customer_id,
        2500,
        "succeeded",
    )
    assert (attempt.refunded_amount_atom, attempt.refunded) == (0, False)
    assert attempt.captured_at is not None
    assert attempt.processor_metadata is not None
    assert attempt.processor_metadata["processor_reference"].startswith("simch_")


def test_another_accounts_intent_is_not_found(paymentkit: tuple[PaymentKit, str], server: Server) -> None:
    client, account_id = paymentkit
    other_id, other_secret = server.new_account("Other")
    pay(server, other_id)
    other = PaymentKit(base_url=server.base_url, token=other_secret, timeout=30)
    [theirs] = other.payments_intents.list_intents(other_id).items

    assert client.payments_intents.list_intents(account_id).items == []
    with pytest.raises(ApiError) as missing:
        client.payments_payment_attempts.list_attempts_by_intent(account_id, theirs.id)
    assert missing.value.status_code == 404


def test_a_filter_the_list_does_not_take_is_refused(paymentkit: tuple[PaymentKit, str]) -> None:
    client, account_id = paymentkit
    with pytest.raises(ApiError) as refused:
        client.payments_intents.list_intents(account_id, filter=json.dumps({"card_number": "4242"}))
    assert refused.value.status_code == 422


def test_a_payment_on_a_saved_method_is_created_then_charged_once(
    paymentkit: tuple[PaymentKit, str], server: Server
) -> None:
    client, account_id = paymentkit
    pay(server, account_id, amount_atom=9000, yearly=True)  # saves the card as the subscription's default
    [subscription] = client.subscriptions.list_subscriptions(account_id).items
    assert subscription.payment_method is not None
    method_id = subscription.payment_method.id
    customer_id = subscription.customer.id

    created = client.payments_intents.create_intent(
        account_id,
        customer_external_id=customer_id,
        amount_atom=1234,
        currency="usd",
        payment_method_external_id=method_id,
        metadata={"order": "A-1"},
    )
    confirmed = client.payments_intents.confirm_intent(account_id, created.id)
    with pytest.raises(ApiError) as again:
        client.payments_intents.confirm_intent(account_id, created.id)

    assert (created.status, created.amount_atom, created.attempt_count) == ("requires_confirmation", 1234, 0)
    assert created.payment_method is not None
    assert created.payment_method.id == method_id
    assert (confirmed.status, confirmed.amount_atom_received, confirmed.attempt_count) == ("succeeded", 1234, 1)
    assert confirmed.metadata == {"order": "A-1"}
    assert confirmed.confirmed_at is not None
    assert again.value.status_code == 409
    [attempt] = client.payments_payment_attempts.list_attempts_by_intent(account_id, created.id).items
    assert (attempt.status, attempt.amount_atom, attempt.payment_method_id) == ("succeeded", 1234, method_id)

    refund = client.payments_refunds.create_refund(account_id, payment_attempt_external_id=attempt.id)
    assert (refund.status, refund.amount_atom) == ("succeeded", 1234)


def test_a_payment_method_of_another_customer_is_refused(paymentkit: tuple[PaymentKit, str], server: Server) -> None:
    client, account_id = paymentkit
    pay(server, account_id, amount_atom=9000, yearly=True)
    [subscription] = client.subscriptions.list_subscriptions(account_id).items
    assert subscription.payment_method is not None
    stranger = client.customers.create_customer(account_id, email="grace@example.com")

    with pytest.raises(UnprocessableEntityError) as refused:
        client.payments_intents.create_intent(
            account_id,
            customer_external_id=stranger.id,
            amount_atom=100,
            currency="usd",
            payment_method_external_id=subscription.payment_method.id,
        )
    [problem] = refused.value.body.detail or []
    assert problem.loc == ["body", "payment_method_external_id"]
