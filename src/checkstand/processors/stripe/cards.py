"""Saved cards at Stripe: a card is saved by attaching its PaymentMethod to a Stripe customer, the one thing Stripe
charges off-session later. Here are the customer made for it, the card read back (brand, last four, expiry) after a
charge or a setup saved it, a card saved from its number (:func:`save_card`), and a saved card forgotten."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import stripe

from checkstand.processors.base import ChargeResult, Outcome, OutcomeUnknown, SaveCardRequest, SavedCard
from checkstand.processors.cards import UNKNOWN as UNKNOWN_BRAND
from checkstand.processors.stripe.wire import METADATA_KEY, as_dict, declined, describe, id_of, unavailable

if TYPE_CHECKING:
    from stripe.params import CustomerCreateParams


async def new_customer(client: stripe.StripeClient, idempotency_key: str, email: str | None) -> str:
    """A Stripe customer for a method being saved, created once per key (the key is also in its metadata)."""
    params: CustomerCreateParams = {"metadata": {METADATA_KEY: idempotency_key}}
    if email is not None:
        params["email"] = email
    customer = await client.v1.customers.create_async(params, {"idempotency_key": f"{idempotency_key}:customer"})
    return customer.id


async def with_saved_card(
    client: stripe.StripeClient, secret: str, intent: Mapping[str, Any], result: ChargeResult
) -> ChargeResult:
    """``result``, what a PaymentIntent or a SetupIntent says, with the saved method's card as Stripe has it.
    Stripe attaches a method saved with ``setup_future_usage`` (or by a SetupIntent) to the intent's customer
    itself; a server that doesn't (localstripe) is asked to. The intent's outcome stands whatever this read
    answers: a failure leaves the result without the card."""
    if result.saved_payment_method is None:
        return result
    customer = id_of(intent.get("customer"))
    try:
        method = as_dict(await client.v1.payment_methods.retrieve_async(result.saved_payment_method))
        if customer is not None and id_of(method.get("customer")) is None:
            method = as_dict(
                await client.v1.payment_methods.attach_async(result.saved_payment_method, {"customer": customer})
            )
    except stripe.StripeError as error:
        problem = f"the saved PaymentMethod couldn't be read: {describe(error, secret=secret)}"
        return dataclasses.replace(result, processor_message=problem)
    return dataclasses.replace(result, saved_card=saved_card_of(method, customer))


async def save_card(client: stripe.StripeClient, secret: str, request: SaveCardRequest) -> ChargeResult:
    """A PaymentMethod for the card, attached to a new Stripe customer: what Stripe charges off-session later.
    Each step carries a key derived from the request's, so a repeated request makes no second customer on
    Stripe. Stripe accepts raw card numbers from servers it has allowed to send them (and fake Stripes);
    others refuse, which is ``unavailable`` here."""
    key = request.idempotency_key
    card = request.card
    try:
        method = await client.v1.payment_methods.create_async(
            {
                "type": "card",
                "card": {
                    "number": card.number,
                    "exp_month": card.exp_month,
                    "exp_year": card.exp_year,
                    "cvc": card.cvc,
                },
            },
            {"idempotency_key": f"{key}:payment_method"},
        )
        customer = await new_customer(client, key, request.customer_email)
        attached = await client.v1.payment_methods.attach_async(
            method.id, {"customer": customer}, {"idempotency_key": f"{key}:attach"}
        )
    except stripe.CardError as error:
        return declined(error, secret=secret)
    except stripe.StripeError as error:
        return unavailable(error, secret=secret)
    return ChargeResult(
        Outcome.SUCCEEDED,
        processor_reference=method.id,
        saved_payment_method=method.id,
        saved_card=saved_card_of(as_dict(attached), customer),
    )


async def detach(client: stripe.StripeClient, secret: str, processor_reference: str) -> None:
    """Stripe's PaymentMethod.detach. A method Stripe no longer has attached (or never had) is forgotten
    already: nothing is left to do."""
    try:
        await client.v1.payment_methods.detach_async(processor_reference)
    except stripe.InvalidRequestError as error:
        if error.http_status not in (400, 404):
            raise OutcomeUnknown(describe(error, secret=secret)) from None
    except stripe.StripeError as error:
        raise OutcomeUnknown(describe(error, secret=secret)) from None


def saved_card_of(method: Mapping[str, Any], customer: str | None) -> SavedCard | None:
    """What a PaymentMethod (Stripe's JSON) tells of its card; None for a method that isn't a card."""
    card = method.get("card") or {}
    if not card.get("last4"):
        return None
    return SavedCard(
        brand=str(card.get("brand") or UNKNOWN_BRAND),
        last4=str(card["last4"]),
        exp_month=int(card.get("exp_month") or 0),
        exp_year=int(card.get("exp_year") or 0),
        processor_customer_reference=id_of(method.get("customer")) or customer,
    )
