"""Saving a payment method without charging it: a SetupIntent (``usage`` off_session) for a new Stripe customer,
found again by the idempotency key in its metadata (Stripe has no search of SetupIntents), so a key saves once even
across a crash between the SetupIntent's creation and its confirmation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import stripe

from checkstand.processors.base import ChargeResult, DeclineCode, Outcome, OutcomeUnknown, SetupRequest
from checkstand.processors.stripe.cards import new_customer, with_saved_card
from checkstand.processors.stripe.wire import (
    MAX_SCAN,
    METADATA_KEY,
    Page,
    action_url,
    as_dict,
    decline_code,
    declined,
    describe,
    error_details,
    find_by_key,
    id_of,
    unavailable,
)

if TYPE_CHECKING:
    from stripe.params import SetupIntentCreateParams

SETUP_INTENT_PREFIX: Final = "seti_"


async def setup(client: stripe.StripeClient, secret: str, request: SetupRequest) -> ChargeResult:
    """Save the payment method for off-session charges without charging it: a SetupIntent (``usage``
    off_session) for a new Stripe Customer, created with the key in its metadata and then confirmed with the
    method (localstripe takes the method only at confirmation). The key's SetupIntent, if it has one, is
    answered instead, or confirmed if a crash came between its creation and its confirmation: a key saves once."""
    method = request.payment_method.processor_reference
    if method is None:
        raise ValueError("Stripe saves a payment method id (pm_...); card details never reach Checkstand's server")
    key = request.idempotency_key
    intent: dict[str, Any] | None = None
    try:
        intent = await _find_setup(client, key)
        if intent is None:
            params: SetupIntentCreateParams = {
                "customer": await new_customer(client, key, request.customer_email),
                "usage": "off_session",
                # Cards only, as for a charge (see intent_params).
                "allowed_payment_method_types": ["card"],
                "metadata": {METADATA_KEY: key},
            }
            intent = as_dict(await client.v1.setup_intents.create_async(params, {"idempotency_key": key}))
        if _never_confirmed(intent):
            confirmed = await client.v1.setup_intents.confirm_async(
                str(intent["id"]), {"payment_method": method}, {"idempotency_key": f"{key}:confirm"}
            )
            intent = as_dict(confirmed)
        return await setup_result(client, secret, intent)
    except stripe.CardError as error:
        # The SetupIntent the card was refused on: the error's on Stripe, the one just made on localstripe.
        reference = id_of(error_details(error).get("setup_intent")) or id_of(intent)
        return declined(error, secret=secret, reference=reference)
    except stripe.StripeError as error:
        return unavailable(error, secret=secret)


async def lookup_setup(client: stripe.StripeClient, secret: str, idempotency_key: str) -> ChargeResult | None:
    """The result of the key's SetupIntent, or None if Stripe never received it, or never the payment method
    (a crash between its creation and its confirmation: nothing was saved)."""
    try:
        intent = await _find_setup(client, idempotency_key)
        if intent is None or _never_confirmed(intent):
            return None
        return await setup_result(client, secret, intent)
    except stripe.StripeError as error:
        raise OutcomeUnknown(describe(error, secret=secret)) from None


async def setup_result(client: stripe.StripeClient, secret: str, intent: Mapping[str, Any]) -> ChargeResult:
    """What a SetupIntent says, with the saved method's card (:func:`.cards.with_saved_card`)."""
    return await with_saved_card(client, secret, intent, setup_result_of(intent))


def setup_result_of(intent: Mapping[str, Any]) -> ChargeResult:
    """What a SetupIntent (as Stripe's JSON) says about saving its payment method: ``requires_payment_method``
    after a confirmation, or ``canceled``, is the card refused (a failed 3-D Secure challenge is
    ``authentication_failed``)."""
    status = intent.get("status")
    reference = str(intent["id"])
    if status == "succeeded":
        return ChargeResult(
            Outcome.SUCCEEDED, processor_reference=reference, saved_payment_method=id_of(intent.get("payment_method"))
        )
    if status in ("requires_action", "processing"):
        url = action_url(intent.get("next_action") or {})
        return ChargeResult(
            Outcome.REQUIRES_ACTION,
            processor_reference=reference,
            action_url=url,
            processor_message=None if url else f"Stripe's SetupIntent is {status}",
        )
    error = intent.get("last_setup_error") or {}
    return ChargeResult(
        Outcome.DECLINED,
        processor_reference=reference,
        decline_code=decline_code(error.get("decline_code"), error.get("code")) or DeclineCode.GENERIC_DECLINE.value,
        processor_message=error.get("message") or f"SetupIntent is {status}",
    )


async def _find_setup(client: stripe.StripeClient, idempotency_key: str) -> dict[str, Any] | None:
    """The key's SetupIntent among the newest :data:`~checkstand.processors.stripe.wire.MAX_SCAN`."""

    async def page(size: int, starting_after: str | None) -> Page:
        if starting_after is None:
            return await client.v1.setup_intents.list_async({"limit": size})
        return await client.v1.setup_intents.list_async({"limit": size, "starting_after": starting_after})

    return await find_by_key(page, idempotency_key, MAX_SCAN)


def _never_confirmed(intent: Mapping[str, Any]) -> bool:
    """A SetupIntent created but never given its payment method (a crash came in between)."""
    return (
        intent.get("status") == "requires_payment_method"
        and not intent.get("payment_method")
        and not intent.get("last_setup_error")
    )
