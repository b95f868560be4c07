"""The Stripe adapter against localstripe on loopback: charges, declines, 3-D Secure, idempotency, outages, and that
the secret key never leaves it. What localstripe can't produce (Stripe's decline codes, redirects, rate limits,
saved cards) is checked on the JSON and errors Stripe documents, through the same functions the adapter uses."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
import stripe
from hypothesis import given
from hypothesis import strategies as st

from checkstand.core.ids import new_id
from checkstand.core.money import currency_codes, to_major
from checkstand.processors.base import (
    CardDetails,
    ChargeRequest,
    DeclineCode,
    Outcome,
    OutcomeUnknown,
    PaymentMethod,
    customer_message,
)
from checkstand.processors.stripe import (
    METADATA_KEY,
    STRIPE_EXPONENTS,
    StripeProcessor,
    declined,
    intent_params,
    result_of,
    settlement_for,
    stripe_amount,
    unavailable,
)
from tests import support
from tests.localstripe import (
    CHARGE_DECLINED_METHOD,
    SECRET_KEY,
    SUCCEEDING_METHOD,
    THREE_DS_CARD,
    LocalStripe,
)


def charge_request(method: str, *, key: str | None = None, amount_atom: int = 1999, **extra: object) -> ChargeRequest:
    return ChargeRequest(
        idempotency_key=key or new_id("catt"),
        amount_atom=amount_atom,
        currency="usd",
        payment_method=PaymentMethod(processor_reference=method),
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture
async def adapter(localstripe: LocalStripe) -> AsyncIterator[StripeProcessor]:
    async with StripeProcessor(SECRET_KEY, localstripe.api_base, allow_private_urls=True) as connected:
        yield connected


def closed_port_base() -> str:
    """A loopback port nothing listens on: every connection is refused."""
    return f"http://127.0.0.1:{support.free_port()}"


async def test_a_card_that_pays_succeeds_as_one_payment_intent_carrying_the_key(
    adapter: StripeProcessor, localstripe: LocalStripe
) -> None:
    request = charge_request(SUCCEEDING_METHOD, amount_atom=4250)
    result = await adapter.charge(request)
    assert result.outcome is Outcome.SUCCEEDED
    assert result.processor_reference is not None
    assert result.processor_reference.startswith("pi_")
    assert result.decline_code is None
    assert result.saved_payment_method is None
    intent = localstripe.payment_intent(result.processor_reference)
    assert (intent["amount"], intent["currency"], intent["status"]) == (4250, "usd", "succeeded")
    assert intent["metadata"] == {METADATA_KEY: request.idempotency_key}


async def test_a_declined_card_answers_declined_with_stripes_code(
    adapter: StripeProcessor, localstripe: LocalStripe
) -> None:
    request = charge_request(CHARGE_DECLINED_METHOD)
    result = await adapter.charge(request)
    assert result.outcome is Outcome.DECLINED
    # localstripe sends no decline_code, so the error's code stands in, as the adapter does for Stripe's.
    assert result.decline_code == "card_declined"
    assert result.processor_message == "Your card was declined."
    assert not result.retryable
    [intent] = localstripe.payment_intents_with_key(request.idempotency_key, METADATA_KEY)
    assert result.processor_reference == intent["id"]
    assert intent["status"] == "requires_payment_method"


async def test_three_d_secure_requires_action_then_confirm_tells_the_outcome(
    adapter: StripeProcessor, localstripe: LocalStripe
) -> None:
    request = charge_request(localstripe.card_method(THREE_DS_CARD))
    pending = await adapter.charge(request)
    assert pending.outcome is Outcome.REQUIRES_ACTION
    assert pending.processor_reference is not None
    # Without a return_url Stripe asks for Stripe.js, which has no URL to hand over.
    assert pending.action_url is None
    assert pending.processor_message is not None
    assert "return_url" in pending.processor_message
    assert (await adapter.confirm(pending.processor_reference)).outcome is Outcome.REQUIRES_ACTION

    localstripe.authenticate(pending.processor_reference, success=True)
    confirmed = await adapter.confirm(pending.processor_reference)
    assert confirmed.outcome is Outcome.SUCCEEDED
    assert confirmed.processor_reference == pending.processor_reference
    assert await adapter.lookup(request.idempotency_key) == confirmed


async def test_a_failed_challenge_is_declined_as_authentication_failed(
    adapter: StripeProcessor, localstripe: LocalStripe
) -> None:
    pending = await adapter.charge(charge_request(localstripe.card_method(THREE_DS_CARD)))
    assert pending.processor_reference is not None
    localstripe.authenticate(pending.processor_reference, success=False)
    result = await adapter.confirm(pending.processor_reference)
    assert result.outcome is Outcome.DECLINED
    assert result.decline_code == DeclineCode.AUTHENTICATION_FAILED
    assert customer_message(result.decline_code) == "We are unable to authenticate your payment method."


@pytest.mark.parametrize("method", [SUCCEEDING_METHOD, CHARGE_DECLINED_METHOD])
async def test_the_same_key_twice_charges_once_and_answers_the_same(
    adapter: StripeProcessor, localstripe: LocalStripe, method: str
) -> None:
    request = charge_request(method)
    first = await adapter.charge(request)
    again = await adapter.charge(request)
    assert again == first
    assert len(localstripe.payment_intents_with_key(request.idempotency_key, METADATA_KEY)) == 1


async def test_a_key_already_charged_with_another_amount_is_refused(
    adapter: StripeProcessor, localstripe: LocalStripe
) -> None:
    request = charge_request(SUCCEEDING_METHOD, amount_atom=1000)
    await adapter.charge(request)
    with pytest.raises(ValueError, match="already charged 1000 usd"):
        await adapter.charge(charge_request(SUCCEEDING_METHOD, key=request.idempotency_key, amount_atom=2000))
    assert len(localstripe.payment_intents_with_key(request.idempotency_key, METADATA_KEY)) == 1


async def test_lookup_answers_a_keys_charge_and_none_for_a_key_never_sent(adapter: StripeProcessor) -> None:
    request = charge_request(SUCCEEDING_METHOD)
    assert await adapter.lookup(request.idempotency_key) is None
    charged = await adapter.charge(request)
    assert await adapter.lookup(request.idempotency_key) == charged
    # A key with the quote characters of Stripe's search syntax is just a string.
    odd = charge_request(SUCCEEDING_METHOD, key=f"it's a \\ key {new_id('k')}")
    assert await adapter.lookup(odd.idempotency_key) is None
    odd_charge = await adapter.charge(odd)
    assert odd_charge.outcome is Outcome.SUCCEEDED
    assert await adapter.lookup(odd.idempotency_key) == odd_charge


async def test_card_details_never_reach_the_stripe_adapter(adapter: StripeProcessor) -> None:
    card = PaymentMethod(card=CardDetails(number="4242424242424242", exp_month=12, exp_year=2030, cvc="123"))
    with pytest.raises(ValueError, match="payment method id"):
        await adapter.charge(ChargeRequest(idempotency_key="k", amount_atom=100, currency="usd", payment_method=card))


async def test_an_unreachable_stripe_is_unavailable_and_never_a_guess() -> None:
    async with StripeProcessor(SECRET_KEY, closed_port_base(), allow_private_urls=True, network_retries=0) as down:
        result = await down.charge(charge_request(SUCCEEDING_METHOD))
        assert result.outcome is Outcome.UNAVAILABLE
        assert result.retryable
        assert result.processor_message is not None
        assert result.processor_message.startswith("APIConnectionError")
        # Recovery and 3-D Secure can't learn the outcome: they raise rather than answer "unavailable" or None.
        with pytest.raises(OutcomeUnknown, match="APIConnectionError"):
            await down.lookup("any-key")
        with pytest.raises(OutcomeUnknown):
            await down.confirm("pi_123")


async def test_a_server_that_answers_but_not_as_stripe_is_unavailable(localstripe: LocalStripe) -> None:
    async with StripeProcessor(SECRET_KEY, f"{localstripe.api_base}/not-stripe", allow_private_urls=True) as confused:
        result = await confused.charge(charge_request(SUCCEEDING_METHOD))
    assert result.outcome is Outcome.UNAVAILABLE
    assert result.processor_message is not None
    assert result.processor_message.startswith("APIError")


async def test_a_refused_key_is_unavailable(localstripe: LocalStripe) -> None:
    # localstripe takes only "sk_" keys: a restricted key is refused as Stripe refuses a revoked one.
    async with StripeProcessor("rk_test_refused0000000000", localstripe.api_base, allow_private_urls=True) as refused:
        result = await refused.charge(charge_request(SUCCEEDING_METHOD))
    assert result.outcome is Outcome.UNAVAILABLE
    assert result.processor_message is not None
    assert result.processor_message.startswith("AuthenticationError 401")


def test_stripes_card_errors_pass_its_decline_code_through() -> None:
    """What api.stripe.com answers and localstripe doesn't: a decline code beside the error code, and the
    PaymentIntent inside the error."""
    body = {
        "error": {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.",
            "payment_intent": {"id": "pi_3Q", "object": "payment_intent", "status": "requires_payment_method"},
        }
    }
    error = stripe.CardError(
        "Your card has insufficient funds.", None, "card_declined", http_status=402, json_body=body
    )
    result = declined(error, secret=SECRET_KEY)
    assert (result.outcome, result.decline_code, result.processor_reference) == (
        Outcome.DECLINED,
        DeclineCode.INSUFFICIENT_FUNDS,
        "pi_3Q",
    )
    expired = stripe.CardError("Your card has expired.", "exp_month", "expired_card", http_status=402, json_body={})
    assert declined(expired, secret=SECRET_KEY).decline_code == DeclineCode.EXPIRED_CARD
    processing = stripe.CardError("Try again.", None, "processing_error", http_status=402, json_body={})
    assert declined(processing, secret=SECRET_KEY).retryable


@pytest.mark.parametrize(
    "error",
    [
        stripe.RateLimitError("Too many requests", http_status=429),
        stripe.APIError("Internal error", http_status=500, headers={"request-id": "req_123"}),
        stripe.APIError("Service unavailable", http_status=503),
        stripe.APIConnectionError("Network error"),
        stripe.PermissionError("This key can't create PaymentIntents", http_status=403),
    ],
)
def test_outages_throttling_and_refusals_are_unavailable(error: stripe.StripeError) -> None:
    result = unavailable(error, secret=SECRET_KEY)
    assert result.outcome is Outcome.UNAVAILABLE
    assert result.retryable
    assert result.processor_message is not None
    assert result.processor_message.startswith(type(error).__name__)


def test_a_payment_intent_reads_as_its_result() -> None:
    """PaymentIntents as Stripe's API documents them, in the states localstripe never reaches."""
    redirect = result_of(
        {
            "id": "pi_1",
            "status": "requires_action",
            "next_action": {"type": "redirect_to_url", "redirect_to_url": {"url": "https://hooks.stripe.com/3ds"}},
        }
    )
    assert (redirect.outcome, redirect.action_url) == (Outcome.REQUIRES_ACTION, "https://hooks.stripe.com/3ds")
    saved = result_of(
        {"id": "pi_2", "status": "succeeded", "setup_future_usage": "off_session", "payment_method": "pm_9"}
    )
    assert (saved.outcome, saved.saved_payment_method) == (Outcome.SUCCEEDED, "pm_9")
    expanded = result_of(
        {"id": "pi_3", "status": "succeeded", "setup_future_usage": "off_session", "payment_method": {"id": "pm_8"}}
    )
    assert expanded.saved_payment_method == "pm_8"
    assert result_of({"id": "pi_4", "status": "succeeded", "payment_method": "pm_7"}).saved_payment_method is None
    assert result_of({"id": "pi_5", "status": "requires_capture"}).outcome is Outcome.SUCCEEDED
    processing = result_of({"id": "pi_6", "status": "processing"})
    assert (processing.outcome, processing.action_url) == (Outcome.REQUIRES_ACTION, None)
    declined_intent = result_of(
        {
            "id": "pi_7",
            "status": "requires_payment_method",
            "last_payment_error": {"code": "card_declined", "decline_code": "stolen_card", "message": "Declined."},
        }
    )
    assert (declined_intent.outcome, declined_intent.decline_code) == (Outcome.DECLINED, DeclineCode.STOLEN_CARD)
    canceled = result_of({"id": "pi_8", "status": "canceled", "last_payment_error": None})
    assert (canceled.outcome, canceled.processor_message) == (Outcome.DECLINED, "PaymentIntent is canceled")


def test_a_charge_becomes_the_payment_intent_stripe_expects() -> None:
    request = charge_request(
        "pm_1",
        key="catt_1",
        amount_atom=1999,
        return_url="https://shop.test/return",
        save_payment_method=True,
        description="Pro plan",
    )
    assert intent_params(request) == {
        "amount": 1999,
        "currency": "usd",
        "payment_method": "pm_1",
        "allowed_payment_method_types": ["card"],
        "confirm": True,
        "metadata": {METADATA_KEY: "catt_1"},
        "return_url": "https://shop.test/return",
        "setup_future_usage": "off_session",
        "description": "Pro plan",
    }
    plain = intent_params(charge_request("pm_1", key="catt_2"))
    assert "return_url" not in plain
    assert "setup_future_usage" not in plain
    assert "description" not in plain
    icelandic = ChargeRequest("k", 5, "ISK", PaymentMethod(processor_reference="pm_1"))
    assert (intent_params(icelandic)["amount"], intent_params(icelandic)["currency"]) == (500, "isk")


@given(amount=st.integers(min_value=0, max_value=10**15), currency=st.sampled_from(sorted(currency_codes())))
def test_stripe_amounts_are_the_same_money(amount: int, currency: str) -> None:
    """Stripe's amount means what the ISO 4217 one means: only the count of decimals changes (ISK)."""
    converted = stripe_amount(amount, currency)
    assert isinstance(converted, int)
    stripe_exponent = STRIPE_EXPONENTS.get(currency.lower())
    if stripe_exponent is None:
        assert converted == amount
    else:
        assert Decimal(converted).scaleb(-stripe_exponent) == to_major(amount, currency)


async def test_the_settle_hook_reads_the_payment_intent_of_an_event(
    adapter: StripeProcessor, localstripe: LocalStripe
) -> None:
    request = charge_request(SUCCEEDING_METHOD)
    charged = await adapter.charge(request)
    assert charged.processor_reference is not None
    [event] = localstripe.events_about(charged.processor_reference)
    assert event["type"] == "payment_intent.succeeded"
    settlement = await settlement_for(adapter, event)
    assert settlement is not None
    assert settlement.idempotency_key == request.idempotency_key
    assert settlement.result == charged

    # An event about anything else, or about a PaymentIntent Checkstand didn't create, settles nothing.
    assert await settlement_for(adapter, {**event, "type": "charge.succeeded"}) is None
    foreign = {**event, "data": {"object": {**event["data"]["object"], "metadata": {}}}}
    assert await settlement_for(adapter, foreign) is None


async def test_the_secret_key_is_never_logged_nor_put_in_a_message(
    localstripe: LocalStripe, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    messages: list[str] = []
    async with StripeProcessor(SECRET_KEY, localstripe.api_base, allow_private_urls=True) as adapter:
        messages.append(repr(adapter))
        for method in (SUCCEEDING_METHOD, CHARGE_DECLINED_METHOD):
            messages.append(str((await adapter.charge(charge_request(method))).processor_message))
    async with StripeProcessor(SECRET_KEY, closed_port_base(), allow_private_urls=True, network_retries=0) as down:
        messages.append(str((await down.charge(charge_request(SUCCEEDING_METHOD))).processor_message))
        with pytest.raises(OutcomeUnknown) as raised:
            await down.confirm("pi_123")
        messages += [str(raised.value), repr(raised.value), str(raised.value.__cause__)]
    refused_key = "rk_test_refusedSecret000000"
    async with StripeProcessor(refused_key, localstripe.api_base, allow_private_urls=True) as refused:
        messages.append(str((await refused.charge(charge_request(SUCCEEDING_METHOD))).processor_message))
    assert "Request to Stripe api" in caplog.text  # Stripe's library did log, at every level
    for secret in (SECRET_KEY, refused_key):
        assert secret not in caplog.text
        for message in messages:
            assert secret not in message
    # A server that echoed the key back would still not get it into a message.
    echoed = stripe.AuthenticationError(f"Invalid API Key provided: {SECRET_KEY}", http_status=401)
    assert SECRET_KEY not in str(unavailable(echoed, secret=SECRET_KEY).processor_message)
