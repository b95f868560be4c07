"""Recovery, a worker job: settling the attempts their request left behind.

An attempt left ``processing`` past its lease (:mod:`checkstand.payments.leases`: its process died, since a live one
renews the lease while it waits on a processor) is settled by asking the processor again with the same idempotency
key. Charged: recorded and completed. Never received: recorded as unavailable, and the attempt fails (the card is not
kept). Still unknown: left for the next round. A 3-D Secure challenge left undecided past the policy's challenge
timeout is asked about once more and fails if the customer never decided, so the session can be paid again.

Each attempt is handled on its own: the candidates are read in a short transaction, each processor is asked with no
transaction open, and each answer is recorded in a transaction of its own. A slow processor then holds no lock, and
one attempt's processor never delays the record of another.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import or_, select

from checkstand.core import clock
from checkstand.payments.adapters import Gateway, adapter_for, load_processor
from checkstand.payments.flow import record_answer
from checkstand.payments.models import CHARGE_PENDING, PROCESSING, REQUIRES_ACTION, CheckoutAttempt, ProcessorAttempt
from checkstand.payments.transitions import waiting_on
from checkstand.processors.base import ChargeResult, DeclineCode, Outcome, OutcomeUnknown

RECOVERY_BATCH: Final = 50


async def recover_stuck_attempts(gateway: Gateway) -> int:
    """Settle what is due; returns how many attempts were settled."""
    now = clock.now()
    async with gateway.database.reading() as session:
        stale = (
            await session.scalars(
                select(ProcessorAttempt)
                .join(CheckoutAttempt, CheckoutAttempt.id == ProcessorAttempt.checkout_attempt_id)
                .where(
                    CheckoutAttempt.state == PROCESSING,
                    # No lease: the attempt was never handed to a process that calls processors (or predates 0015).
                    or_(CheckoutAttempt.lease_expires_at.is_(None), CheckoutAttempt.lease_expires_at <= now),
                    ProcessorAttempt.charge_status == CHARGE_PENDING,
                )
                .order_by(CheckoutAttempt.lease_expires_at, CheckoutAttempt.updated_at)
                .limit(RECOVERY_BATCH)
            )
        ).all()
        abandoned = (
            await session.scalars(
                select(CheckoutAttempt)
                .where(
                    CheckoutAttempt.state == REQUIRES_ACTION,
                    CheckoutAttempt.updated_at <= now - gateway.policy.challenge_timeout,
                )
                .order_by(CheckoutAttempt.updated_at)
                .limit(RECOVERY_BATCH)
            )
        ).all()
    settled = 0
    for processor_attempt in stale:
        if await _recover_charge(gateway, processor_attempt):
            settled += 1
    for attempt in abandoned:
        if await _expire_challenge(gateway, attempt):
            settled += 1
    return settled


async def _recover_charge(gateway: Gateway, processor_attempt: ProcessorAttempt) -> bool:
    """Ask the processor what became of a charge (or a setup) whose answer was never recorded, and record it."""
    assert processor_attempt.idempotency_key is not None
    processor = await load_processor(gateway, processor_attempt.processor_id)
    try:
        async with adapter_for(gateway, processor) as adapter:
            key = processor_attempt.idempotency_key
            result = await (adapter.lookup_setup(key) if processor_attempt.is_setup else adapter.lookup(key))
    except OutcomeUnknown:
        return False
    if result is None:
        result = ChargeResult(Outcome.UNAVAILABLE, processor_message="The processor never received the charge.")
    await record_answer(gateway, processor_attempt.account_id, processor_attempt.id, result, method=None)
    return True


async def _expire_challenge(gateway: Gateway, attempt: CheckoutAttempt) -> bool:
    """An undecided challenge past its time fails the attempt; one decided meanwhile is recorded as decided."""
    waiting = waiting_on(attempt)
    if waiting is None or waiting.processor_reference is None:
        return False
    processor = await load_processor(gateway, waiting.processor_id)
    try:
        async with adapter_for(gateway, processor) as adapter:
            result = await adapter.confirm(waiting.processor_reference)
    except OutcomeUnknown:
        return False
    if result.outcome is Outcome.REQUIRES_ACTION:
        result = ChargeResult(
            Outcome.DECLINED,
            processor_reference=waiting.processor_reference,
            decline_code=DeclineCode.AUTHENTICATION_FAILED,
            processor_message="The customer did not complete the 3-D Secure challenge in time.",
        )
    await record_answer(gateway, attempt.account_id, waiting.id, result, method=None)
    return True
