"""Refunds at Stripe, once per idempotency key: the key is Stripe's ``Idempotency-Key`` and goes in the refund's
metadata, where a repeated refund finds it first among its PaymentIntent's refunds, as a charge does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import stripe

from checkstand.processors.base import OutcomeUnknown, RefundOutcome, RefundRequest, RefundResult
from checkstand.processors.stripe.wire import (
    MAX_SCAN,
    METADATA_KEY,
    Page,
    as_dict,
    describe,
    find_by_key,
    stripe_amount,
)

if TYPE_CHECKING:
    from stripe.params import RefundCreateParams

# The refund reasons Stripe takes; the SDK's others (manual, ...) are Checkstand's own and not sent.
STRIPE_REFUND_REASONS: Final = frozenset({"duplicate", "fraudulent", "requested_by_customer"})
# The HTTP statuses of a Stripe error that refuse a refund for good; any other error may have refunded.
_REFUND_REFUSALS: Final = frozenset({400, 402, 404})


async def refund(client: stripe.StripeClient, secret: str, request: RefundRequest) -> RefundResult:
    """Refund part of the key's PaymentIntent (``processor_reference``) once, the key's refund answered if it
    has one. A refund Stripe holds ``pending`` (or that can't be asked for) raises :class:`OutcomeUnknown`: asking
    again later with the key answers how it ended. Stripe refusing it (more than is left, an unknown
    PaymentIntent) is ``failed``."""
    params = refund_params(request)
    try:
        existing = await _find_refund(client, request.idempotency_key, request.processor_reference)
        if existing is not None:
            if existing.get("amount") != params["amount"]:
                raise ValueError(
                    f"idempotency key already refunded {existing.get('amount')} at Stripe; "
                    f"this refund is {params['amount']}"
                )
            return refund_result_of(existing)
        created = await client.v1.refunds.create_async(params, {"idempotency_key": request.idempotency_key})
    except stripe.StripeError as error:
        if error.http_status in _REFUND_REFUSALS:
            return RefundResult(
                RefundOutcome.FAILED,
                failure_code=str(error.code or "refund_refused"),
                failure_message=describe(error, secret=secret),
            )
        raise OutcomeUnknown(describe(error, secret=secret)) from None
    return refund_result_of(as_dict(created))


def refund_params(request: RefundRequest) -> RefundCreateParams:
    """The refund a request creates: of the PaymentIntent, in Stripe's units. ``reason`` only when Stripe has it
    (test servers refuse parameters they don't know, and localstripe knows no reason at all)."""
    params: RefundCreateParams = {
        "payment_intent": request.processor_reference,
        "amount": stripe_amount(request.amount_atom, request.currency),
        "metadata": {METADATA_KEY: request.idempotency_key},
    }
    if request.reason in STRIPE_REFUND_REASONS:
        params["reason"] = request.reason
    return params


def refund_result_of(refund: Mapping[str, Any]) -> RefundResult:
    """What a Stripe refund says: succeeded, or failed (failed or canceled at Stripe); Stripe still working on it
    (pending, requires_action) is :class:`OutcomeUnknown` until it decides."""
    status = refund.get("status")
    reference = str(refund["id"])
    if status == "succeeded":
        return RefundResult(RefundOutcome.SUCCEEDED, processor_refund_id=reference)
    if status in ("failed", "canceled"):
        return RefundResult(
            RefundOutcome.FAILED,
            processor_refund_id=reference,
            failure_code=str(refund.get("failure_reason") or status),
            failure_message=f"Stripe's refund {reference} is {status}.",
        )
    raise OutcomeUnknown(f"Stripe's refund {reference} is {status}")


async def _find_refund(client: stripe.StripeClient, idempotency_key: str, payment_intent: str) -> dict[str, Any] | None:
    """The key's refund among the PaymentIntent's refunds (a PaymentIntent has few), scanned up to
    :data:`~checkstand.processors.stripe.wire.MAX_SCAN`."""

    async def page(size: int, starting_after: str | None) -> Page:
        if starting_after is None:
            return await client.v1.refunds.list_async({"payment_intent": payment_intent, "limit": size})
        return await client.v1.refunds.list_async(
            {"payment_intent": payment_intent, "limit": size, "starting_after": starting_after}
        )

    return await find_by_key(page, idempotency_key, MAX_SCAN)
