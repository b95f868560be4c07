"""Stripe setups against localstripe: a trial's checkout saves the card as a SetupIntent (``usage`` off_session) for
a new Stripe Customer, once per idempotency key, and charges nothing. localstripe has SetupIntents but no way to
pass a SetupIntent's 3-D Secure challenge (its ``_authenticate`` is for PaymentIntents), so a challenged setup is
checked up to the challenge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from checkstand.core.ids import new_id
from checkstand.processors.base import ChargeRequest, Outcome, PaymentMethod, SetupRequest
from checkstand.processors.stripe import METADATA_KEY, StripeProcessor
from tests.localstripe import SECRET_KEY, SUCCEEDING_METHOD, THREE_DS_CARD, LocalStripe

DECLINED_ON_ATTACH = "4000000000000002"


def setup_request(method: str, *, key: str | None = None) -> SetupRequest:
    return SetupRequest(
        idempotency_key=key or new_id("test"),
        currency="usd",
        payment_method=PaymentMethod(processor_reference=method),
        customer_email="ada@example.test",
    )


def setup_intents_with_key(localstripe: LocalStripe, key: str) -> list[dict[str, Any]]:
    listed = httpx.get(
        f"{localstripe.api_base}/v1/setup_intents",
        params={"limit": 100},
        headers={"Authorization": f"Bearer {SECRET_KEY}"},
        timeout=10,
    ).json()
    assert not listed["has_more"]
    return [intent for intent in listed["data"] if intent["metadata"].get(METADATA_KEY) == key]


def payment_intent_count(localstripe: LocalStripe) -> int:
    listed = httpx.get(
        f"{localstripe.api_base}/v1/payment_intents",
        params={"limit": 100},
        headers={"Authorization": f"Bearer {SECRET_KEY}"},
        timeout=10,
    ).json()
    return len(listed["data"])


@pytest.fixture
async def adapter(localstripe: LocalStripe) -> AsyncIterator[StripeProcessor]:
    async with StripeProcessor(SECRET_KEY, localstripe.api_base, allow_private_urls=True) as connected:
        yield connected


async def test_a_setup_saves_the_card_for_a_customer_once_per_key_and_charges_nothing(
    adapter: StripeProcessor, localstripe: LocalStripe
) -> None:
    method = localstripe.card_method("4242424242424242")
    request = setup_request(method)
    charges_before = payment_intent_count(localstripe)

    saved = await adapter.setup(request)
    again = await adapter.setup(request)

    assert saved.outcome is Outcome.SUCCEEDED
    assert saved.processor_reference is not None
    assert saved.processor_reference.startswith("seti_")
    assert saved.saved_payment_method == method
    assert again == saved
    [intent] = setup_intents_with_key(localstripe, request.idempotency_key)
    assert (intent["status"], intent["usage"], intent["payment_method"]) == ("succeeded", "off_session", method)
    assert intent["customer"].startswith("cus_")
    assert saved.saved_card is not None
    assert (saved.saved_card.last4, saved.saved_card.processor_customer_reference) == ("4242", intent["customer"])
    assert payment_intent_count(localstripe) == charges_before
    # Recovery finds it by its key, and reading it after a challenge answers the same.
    assert await adapter.lookup_setup(request.idempotency_key) == saved
    assert await adapter.confirm(saved.processor_reference) == saved
    assert await adapter.lookup_setup(new_id("never-sent")) is None


async def test_the_saved_card_is_charged_off_session_later(adapter: StripeProcessor, localstripe: LocalStripe) -> None:
    saved = await adapter.setup(setup_request(SUCCEEDING_METHOD))
    assert saved.saved_payment_method is not None

    charged = await adapter.charge(
        ChargeRequest(
            idempotency_key=new_id("renewal"),
            amount_atom=4900,
            currency="usd",
            payment_method=PaymentMethod(processor_reference=saved.saved_payment_method),
        )
    )

    assert charged.outcome is Outcome.SUCCEEDED
    assert charged.processor_reference is not None
    assert localstripe.payment_intent(charged.processor_reference)["amount"] == 4900


async def test_a_three_d_secure_card_is_challenged_by_its_setup(
    adapter: StripeProcessor, localstripe: LocalStripe
) -> None:
    request = setup_request(localstripe.card_method(THREE_DS_CARD))

    waiting = await adapter.setup(request)

    assert waiting.outcome is Outcome.REQUIRES_ACTION
    assert waiting.saved_payment_method is None
    assert waiting.processor_reference is not None
    # Stripe.js runs the challenge with the SetupIntent's client secret, read while it waits.
    secret = await adapter.client_secret(waiting.processor_reference)
    assert secret is not None
    assert secret.startswith(f"{waiting.processor_reference}_secret_")
    assert (await adapter.lookup_setup(request.idempotency_key)) == waiting


async def test_a_card_refused_at_setup_is_declined_with_its_setup_intent(
    adapter: StripeProcessor, localstripe: LocalStripe
) -> None:
    request = setup_request(localstripe.card_method(DECLINED_ON_ATTACH))

    refused = await adapter.setup(request)

    assert refused.outcome is Outcome.DECLINED
    assert refused.decline_code == "card_declined"
    assert refused.saved_payment_method is None
    [intent] = setup_intents_with_key(localstripe, request.idempotency_key)
    assert refused.processor_reference == intent["id"]
    # Asked again, the key answers the refusal; no second SetupIntent is made.
    again = await adapter.setup(request)
    assert (again.outcome, again.processor_reference) == (Outcome.DECLINED, intent["id"])
    assert len(setup_intents_with_key(localstripe, request.idempotency_key)) == 1
