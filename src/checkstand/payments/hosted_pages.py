"""What the hosted checkout page and the payment flow share: where a 3-D Secure challenge sends the customer back
to, and which processor's card form the page shows (the first one the payment would go to)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout.models import CheckoutSession
from checkstand.payments.models import CheckoutAttempt
from checkstand.processors import routes
from checkstand.processors.connections import STRIPE
from checkstand.processors.models import Processor


def return_url(public_url: str, checkout: CheckoutSession, attempt: CheckoutAttempt) -> str:
    """Where a 3-D Secure challenge sends the customer back: the hosted page, told which attempt to resume."""
    return f"{public_url.rstrip('/')}/c/{checkout.secure_token}?checkout_attempt_id={attempt.id}"


def authenticate_url(public_url: str, checkout: CheckoutSession, attempt: CheckoutAttempt) -> str:
    """The hosted page that runs a Stripe challenge in Stripe.js (``handleNextAction``), then resumes the attempt."""
    return f"{public_url.rstrip('/')}/c/{checkout.secure_token}/authenticate?checkout_attempt_id={attempt.id}"


async def page_processor(session: AsyncSession, checkout: CheckoutSession) -> Processor | None:
    """The processor whose card form the hosted page shows: the first the session's primary tier would charge.

    A Stripe connection without a publishable key is passed over, since Stripe.js can't run without one; a card
    typed into the next processor's form would pass it over too (card numbers never reach Stripe). None when no
    processor of the route can take the page's payment: the page then says so and offers no form."""
    choices = await routes.processors_for_charge(
        session, checkout.account_id, currency=checkout.currency, route_id=checkout.processor_route_id
    )
    for choice in choices:
        showable = choice.processor.type != STRIPE or choice.processor.publishable_key is not None
        if choice.usable and choice.disposition == routes.CHARGE_AND_SETUP and showable:
            return choice.processor
    return None
