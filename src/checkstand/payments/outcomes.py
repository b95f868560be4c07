"""What a processor's answer does to its attempt, recorded under the checkout session's row lock: a success
completes the session, a challenge waits for the customer, a decline another amount may fix moves down the cascade,
an error another processor may not repeat moves along the route, and any other decline ends the attempt (a decline
about the card itself: lost, stolen, expired, wrong number or CVC)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout import service as checkout_service
from checkstand.core.errors import CheckstandError, NotFound
from checkstand.events.service import record_event
from checkstand.observability.metrics import PAYMENTS
from checkstand.payments import completion
from checkstand.payments.cascade import PendingCharge, advance, next_charge
from checkstand.payments.hosted_pages import authenticate_url
from checkstand.payments.models import (
    CHARGE_CANCELED,
    CHARGE_PENDING,
    PREFER_NON_3DS,
    PROCESSING,
    REQUIRES_ACTION,
    SUCCEEDED,
    ProcessorAttempt,
)
from checkstand.payments.service import get_attempt
from checkstand.payments.transitions import await_action, give_up, move, waiting_on
from checkstand.processors.base import AMOUNT_MAY_FIX, ChargeResult, Outcome, PaymentMethod


async def record_result(
    session: AsyncSession,
    account_id: str,
    processor_attempt_id: str,
    result: ChargeResult,
    *,
    method: PaymentMethod | None,
    public_url: str,
) -> PendingCharge | None:
    """Record what a processor answered, under the session's lock, and stage the next charge if there is one.
    An answer already recorded (by recovery, or a repeated resume) changes nothing."""
    processor_attempt = await session.scalar(
        select(ProcessorAttempt).where(
            ProcessorAttempt.id == processor_attempt_id, ProcessorAttempt.account_id == account_id
        )
    )
    if processor_attempt is None:
        raise NotFound("processor_attempt", processor_attempt_id)
    attempt = await get_attempt(session, account_id, processor_attempt.checkout_attempt_id)
    checkout = await checkout_service.lock_session(session, account_id, attempt.checkout_session_id)
    # Re-read inside the lock: whoever held it may have recorded this very answer.
    await session.refresh(attempt)
    await session.refresh(processor_attempt)
    if attempt.state not in (PROCESSING, REQUIRES_ACTION) or processor_attempt.charge_status not in (
        CHARGE_PENDING,
        REQUIRES_ACTION,
    ):
        return None
    processor_attempt.charge_status = result.outcome.value
    processor_attempt.decline_code = result.decline_code
    processor_attempt.processor_reference = result.processor_reference or processor_attempt.processor_reference
    processor_attempt.processor_message = result.processor_message
    # A challenge the processor has no page for (Stripe's use_stripe_sdk) runs in Stripe.js, on a page of ours.
    processor_attempt.action_url = result.action_url or (
        authenticate_url(public_url, checkout, attempt) if result.outcome is Outcome.REQUIRES_ACTION else None
    )
    processor_attempt.saved_payment_method = result.saved_payment_method
    await session.flush()
    PAYMENTS.labels(result.outcome.value, result.decline_code or "").inc()

    if result.outcome is Outcome.SUCCEEDED:
        if attempt.state == REQUIRES_ACTION:
            await move(session, attempt, PROCESSING, processor_attempt_id=processor_attempt.id)
        for other in attempt.processor_attempts:
            if other.id != processor_attempt.id and other.charge_status == REQUIRES_ACTION:
                other.charge_status = CHARGE_CANCELED
        try:
            # A savepoint: a refusal (the discount was used up meanwhile) undoes the completion alone, and the
            # charge stays recorded for the merchant to refund.
            async with session.begin_nested():
                await completion.complete(session, checkout, attempt, processor_attempt, result.saved_card)
        except CheckstandError as refusal:
            for undone in (checkout, attempt, processor_attempt):
                await session.refresh(undone)
            if checkout.changes_subscription_id is not None:
                # The money a plan change can no longer use goes back by itself (made once this commits).
                refund = await completion.refund_unapplied_change(session, checkout, attempt, processor_attempt)
                if refund is not None:
                    await give_up(
                        session,
                        checkout,
                        attempt,
                        None,
                        debug=f"Charged by {processor_attempt.processor_name} "
                        f"({processor_attempt.processor_reference}) but the change could not apply: {refusal.detail} "
                        f"Refunded in full ({refund.id}).",
                    )
                    return None
            await give_up(
                session,
                checkout,
                attempt,
                None,
                debug=f"Charged by {processor_attempt.processor_name} ({processor_attempt.processor_reference}) "
                f"but the session could not complete: {refusal.detail} Refund the charge.",
            )
            return None
        checkout_service.end_payment(checkout, attempt.id)
        await move(session, attempt, SUCCEEDED, processor_attempt_id=processor_attempt.id)
        await record_event(session, account_id=account_id, type="checkout_attempt.succeeded", obj=attempt)
        return None
    if result.outcome is Outcome.REQUIRES_ACTION:
        if attempt.three_ds_mode == PREFER_NON_3DS and attempt.state == PROCESSING and method is not None:
            # Another processor of the route may take the payment without a challenge; this one waits meanwhile.
            pending = await next_charge(session, checkout, attempt, method, public_url=public_url)
            if pending is not None:
                return pending
        # The first challenge is the one to show: a processor further down is no better a chance.
        await await_action(session, attempt, waiting_on(attempt, any_deferred=True) or processor_attempt)
        return None
    if result.outcome is Outcome.DECLINED and not result.retryable:
        if result.decline_code in AMOUNT_MAY_FIX:
            return await advance(session, checkout, attempt, method, next_tier=True, public_url=public_url)
        await give_up(session, checkout, attempt, processor_attempt)
        return None
    return await advance(session, checkout, attempt, method, next_tier=False, public_url=public_url)
