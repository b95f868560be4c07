"""Which charge comes next: the next processor of the tier's route, else the first of the next cascade tier's.

Order of processors: the tier's route (a fallback tier's own route, else the session's), else the account default,
else every connected processor. A skipped processor (inactive, unavailable, not taking the currency, setup only when
there is something to charge, or not taking this kind of payment method) is recorded and passed over. When no charge
is left, a challenge put off for ``prefer_non_3ds`` is the last chance, else the attempt fails. A charge is only
*staged* here (a processor attempt committed as pending, with its idempotency key); the flow calls the processor once
that is committed.

A tier charges what is due today (:mod:`checkstand.checkout.trials`: a trial's recurring part is charged when the trial
ends). When that is nothing and the tier recurs, the call is a setup: the payment method is saved and nothing charged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout import service as checkout_service
from checkstand.checkout import trials
from checkstand.checkout.models import PRIMARY_TIER, CheckoutSession
from checkstand.core.ids import new_id
from checkstand.payments import completion
from checkstand.payments.hosted_pages import return_url
from checkstand.payments.models import CHARGE_PENDING, CHARGE_SKIPPED, PROCESSING, CheckoutAttempt, ProcessorAttempt
from checkstand.payments.transitions import await_action, give_up, last_answer, move, waiting_on
from checkstand.processors import routes
from checkstand.processors.base import ChargeRequest, PaymentMethod, SetupRequest
from checkstand.processors.connections import SIMULATOR
from checkstand.processors.models import Processor
from checkstand.processors.simulator import SAVED_METHOD_PREFIX

PROCESSOR_ATTEMPT_PREFIX: Final = "patt"
SKIP_SETUP_ONLY: Final = "setup_only"
SKIP_METHOD: Final = "payment_method_not_supported"


@dataclass(frozen=True)
class PendingCharge:
    """A processor attempt committed as pending: the call still to make, a charge or a setup."""

    account_id: str
    attempt_id: str
    processor_attempt_id: str
    processor_id: str
    request: ChargeRequest | SetupRequest


async def advance(
    session: AsyncSession,
    checkout: CheckoutSession,
    attempt: CheckoutAttempt,
    method: PaymentMethod | None,
    *,
    next_tier: bool,
    public_url: str,
) -> PendingCharge | None:
    """The next charge: the next processor of this tier's route, else the first of the next tier's; when none is
    left, a challenge put off for ``prefer_non_3ds`` is the last chance, else the attempt fails."""
    if method is None:
        # After a restart or a challenge the card is gone (it is never stored); the customer tries again.
        await give_up(session, checkout, attempt, last_answer(attempt), debug="no payment method to try again with")
        return None
    tiers = checkout_service.tier_count(checkout)
    while True:
        if not next_tier:
            pending = await next_charge(session, checkout, attempt, method, public_url=public_url)
            if pending is not None:
                return pending
        if attempt.tier + 1 >= tiers:
            break
        attempt.tier += 1
        next_tier = False
        await move(session, attempt, PROCESSING, tier=attempt.tier, reason="cascade")
    deferred = waiting_on(attempt, any_deferred=True)
    if deferred is not None:
        await await_action(session, attempt, deferred)
        return None
    await give_up(session, checkout, attempt, last_answer(attempt))
    return None


async def next_charge(
    session: AsyncSession,
    checkout: CheckoutSession,
    attempt: CheckoutAttempt,
    method: PaymentMethod,
    *,
    public_url: str,
) -> PendingCharge | None:
    """Stage the next processor of the current tier not tried yet (recording the skipped ones), or None."""
    tier = attempt.tier
    route_id = checkout.processor_route_id
    if tier > PRIMARY_TIER:
        route_id = checkout.cascade_routes[tier - 1] or route_id
    choices = await routes.processors_for_charge(
        session, checkout.account_id, currency=checkout.currency, route_id=route_id
    )
    tried = {p.processor_id for p in attempt.processor_attempts if p.tier == tier}
    amount = trials.amount_due_today(checkout, tier)
    setup = trials.sets_up(checkout, tier)
    for choice in choices:
        if choice.processor.id in tried:
            continue
        skip = choice.skip_reason or (
            SKIP_SETUP_ONLY if choice.disposition == routes.SETUP_ONLY and not setup else None
        )
        if skip is None and not _takes(choice.processor, method):
            skip = SKIP_METHOD
        position = len(attempt.processor_attempts)
        processor_attempt = ProcessorAttempt(
            id=new_id(PROCESSOR_ATTEMPT_PREFIX),
            account_id=attempt.account_id,
            checkout_attempt_id=attempt.id,
            position=position,
            tier=tier,
            processor_id=choice.processor.id,
            processor_name=choice.processor.name,
            disposition=choice.disposition,
            charge_status=CHARGE_SKIPPED if skip else CHARGE_PENDING,
            skip_reason=skip,
            idempotency_key=None if skip else f"{attempt.id}:{position}",
            amount_atom=amount,
            currency=checkout.currency,
            is_setup=setup,
        )
        attempt.processor_attempts.append(processor_attempt)
        await session.flush()
        if skip is not None:
            continue
        assert processor_attempt.idempotency_key is not None
        simulated = choice.processor.type == SIMULATOR
        # Only the simulator is sent a description and return URL: localstripe, which Stripe's tests run against,
        # refuses both, and Stripe's own 3-D Secure runs in Stripe.js without a redirect.
        description = f"Checkout session {checkout.id}" if simulated else None
        back = return_url(public_url, checkout, attempt) if simulated else None
        email = attempt.submitted_customer_info.get("email")
        request: ChargeRequest | SetupRequest
        if setup:
            request = SetupRequest(
                idempotency_key=processor_attempt.idempotency_key,
                currency=checkout.currency,
                payment_method=method,
                description=description,
                customer_email=email,
                return_url=back,
                three_ds_mode=attempt.three_ds_mode,
            )
        else:
            request = ChargeRequest(
                idempotency_key=processor_attempt.idempotency_key,
                amount_atom=amount,
                currency=checkout.currency,
                payment_method=method,
                description=description,
                customer_email=email,
                save_payment_method=completion.recurs(checkout, tier),
                return_url=back,
                three_ds_mode=attempt.three_ds_mode,
            )
        return PendingCharge(
            account_id=attempt.account_id,
            attempt_id=attempt.id,
            processor_attempt_id=processor_attempt.id,
            processor_id=choice.processor.id,
            request=request,
        )
    return None


def _takes(processor: Processor, method: PaymentMethod) -> bool:
    """Whether the processor can charge this kind of payment method. Card numbers reach only the simulator (a real
    processor is paid with its own payment method id), and each processor knows only its own method ids."""
    if method.card is not None:
        return processor.type == SIMULATOR
    saved_on_simulator = (method.processor_reference or "").startswith(f"{SAVED_METHOD_PREFIX}_")
    return saved_on_simulator == (processor.type == SIMULATOR)
