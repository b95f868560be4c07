"""3-D Secure: settling an attempt once its customer has been through the processor's challenge, and the Stripe
challenge the hosted page runs in Stripe.js. Both read what they need in a short transaction and ask the processor
with none open, as every processor call of the flow does."""

from __future__ import annotations

from dataclasses import dataclass, field

from checkstand.checkout import service as checkout_service
from checkstand.payments.adapters import Gateway, adapter_for
from checkstand.payments.flow import drive, record_answer
from checkstand.payments.models import REQUIRES_ACTION, CheckoutAttempt
from checkstand.payments.service import attempt_of_session
from checkstand.payments.transitions import waiting_on
from checkstand.processors.base import Outcome, OutcomeUnknown
from checkstand.processors.connections import STRIPE, open_credentials
from checkstand.processors.models import Processor
from checkstand.processors.stripe import StripeProcessor


@dataclass(frozen=True)
class WaitingCharge:
    """The charge a challenged attempt waits on: its processor attempt, the processor's reference and processor."""

    processor_attempt_id: str
    reference: str
    processor: Processor


@dataclass(frozen=True)
class StripeChallenge:
    """What Stripe.js needs to run a PaymentIntent's challenge in the customer's browser. The client secret
    confirms that PaymentIntent: it goes to that customer's page only, and is never stored or logged."""

    publishable_key: str
    client_secret: str = field(repr=False)


async def resume(gateway: Gateway, secure_token: str, attempt_id: str) -> CheckoutAttempt:
    """After a 3-D Secure challenge: ask the processor how it ended, then complete or go on. Idempotent: an
    attempt no longer waiting is answered as it is."""
    attempt, waiting = await _waiting_charge(gateway, secure_token, attempt_id)
    if waiting is None:
        return attempt
    try:
        async with adapter_for(gateway, waiting.processor) as adapter:
            result = await adapter.confirm(waiting.reference)
    except OutcomeUnknown:
        return attempt
    if result.outcome is Outcome.REQUIRES_ACTION:
        return attempt
    pending = await record_answer(gateway, attempt.account_id, waiting.processor_attempt_id, result, method=None)
    return await drive(gateway, attempt.account_id, attempt_id, pending, None)


async def stripe_challenge(gateway: Gateway, secure_token: str, attempt_id: str) -> StripeChallenge | None:
    """The Stripe challenge an attempt waits on, read from Stripe now; None when it waits on none (settled, another
    processor's, processing at Stripe, a connection without a publishable key, or Stripe can't be asked)."""
    _, waiting = await _waiting_charge(gateway, secure_token, attempt_id)
    if waiting is None:
        return None
    processor = waiting.processor
    credentials = open_credentials(gateway.box, processor)
    if processor.type != STRIPE or processor.publishable_key is None or credentials is None:
        return None
    allow_private = gateway.policy.processor_allow_private_urls
    try:
        async with StripeProcessor(
            credentials.secret_key, processor.api_base, allow_private_urls=allow_private
        ) as stripe:
            client_secret = await stripe.client_secret(waiting.reference)
    except OutcomeUnknown:
        return None
    return None if client_secret is None else StripeChallenge(processor.publishable_key, client_secret)


async def _waiting_charge(
    gateway: Gateway, secure_token: str, attempt_id: str
) -> tuple[CheckoutAttempt, WaitingCharge | None]:
    """The session's attempt, and the charge it waits on (None once it waits on none)."""
    async with gateway.database.reading() as session:
        checkout = await checkout_service.get_by_token(session, secure_token)
        attempt = await attempt_of_session(session, checkout, attempt_id)
        waiting = waiting_on(attempt)
        if attempt.state != REQUIRES_ACTION or waiting is None or waiting.processor_reference is None:
            return attempt, None
        processor = await session.get(Processor, waiting.processor_id)
    assert processor is not None  # processors are never deleted, only disconnected
    return attempt, WaitingCharge(waiting.id, waiting.processor_reference, processor)
