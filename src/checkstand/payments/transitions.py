"""An attempt's state changes, each logged with its time, and the two that leave it waiting or over: a challenge for
the customer, or the attempt given up. One place, so every step of the flow logs and announces them alike, and an
attempt that ends always frees its checkout session for the next payment."""

from __future__ import annotations

from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout import service as checkout_service
from checkstand.checkout.models import CheckoutSession
from checkstand.core import clock
from checkstand.core.ids import new_id
from checkstand.events.service import record_event
from checkstand.payments.models import (
    CHARGE_CANCELED,
    CHARGE_PENDING,
    CHARGE_SKIPPED,
    FAILED,
    REQUIRES_ACTION,
    AttemptTransition,
    CheckoutAttempt,
    ProcessorAttempt,
)
from checkstand.processors.base import customer_message

TRANSITION_PREFIX: Final = "atr"


async def move(session: AsyncSession, attempt: CheckoutAttempt, to_state: str, **context: object) -> None:
    """Change state and log the transition, timestamped (a cascade step logs processing -> processing)."""
    attempt.transitions.append(
        AttemptTransition(
            id=new_id(TRANSITION_PREFIX),
            account_id=attempt.account_id,
            checkout_attempt_id=attempt.id,
            position=len(attempt.transitions),
            from_state=attempt.state,
            to_state=to_state,
            context={key: value for key, value in context.items() if value is not None},
            created_at=clock.now(),
        )
    )
    attempt.state = to_state
    attempt.updated_at = clock.now()
    await session.flush()


async def await_action(session: AsyncSession, attempt: CheckoutAttempt, waiting: ProcessorAttempt) -> None:
    """The customer must complete ``waiting``'s challenge; the attempt keeps its session until it is decided."""
    attempt.action_url = waiting.action_url
    await move(session, attempt, REQUIRES_ACTION, processor_attempt_id=waiting.id)
    await record_event(session, account_id=attempt.account_id, type="checkout_attempt.requires_action", obj=attempt)


async def give_up(
    session: AsyncSession,
    checkout: CheckoutSession,
    attempt: CheckoutAttempt,
    last: ProcessorAttempt | None,
    *,
    debug: str | None = None,
) -> None:
    """The attempt fails; the session stays open for another try. The customer's message is ours, never the
    processor's own words, which go to the merchant only."""
    code = last.decline_code if last is not None else None
    attempt.decline_code = code
    attempt.error_message_for_customer = customer_message(code)
    attempt.error_message_for_debug = debug or (
        (last.processor_message or f"{last.processor_name}: {last.charge_status}")
        if last is not None
        else "No processor of the route could take the payment."
    )
    attempt.action_url = None
    for other in attempt.processor_attempts:
        if other.charge_status == REQUIRES_ACTION:
            other.charge_status = CHARGE_CANCELED
    checkout_service.end_payment(checkout, attempt.id)
    await move(session, attempt, FAILED, decline_code=code)
    await record_event(session, account_id=attempt.account_id, type="payment.failed", obj=attempt)
    await record_event(session, account_id=attempt.account_id, type="checkout_attempt.failed", obj=attempt)


def waiting_on(attempt: CheckoutAttempt, *, any_deferred: bool = False) -> ProcessorAttempt | None:
    """The processor attempt whose challenge the customer is (or, deferred, could be) asked to complete."""
    for candidate in attempt.processor_attempts:
        if candidate.charge_status == REQUIRES_ACTION and (any_deferred or candidate.action_url == attempt.action_url):
            return candidate
    return None


def last_answer(attempt: CheckoutAttempt) -> ProcessorAttempt | None:
    """The last processor attempt a processor answered (skipped and unanswered ones aside)."""
    answered = [p for p in attempt.processor_attempts if p.charge_status not in (CHARGE_SKIPPED, CHARGE_PENDING)]
    return answered[-1] if answered else None
