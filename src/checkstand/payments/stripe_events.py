"""Stripe's events about the charges Checkstand made: a challenge decided in Stripe.js, or a payment Stripe decided
later, applied to its attempt as a resume would.

A delivery is verified (and a repeat answered) in a short read; Stripe is asked for the PaymentIntent's state with
no transaction open; then the event is stored, applied and marked processed in one short transaction, so an event
is never marked processed without its settlement, and is not stored at all when Stripe can't be asked (Stripe
delivers it again later).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.payments.adapters import Gateway
from checkstand.payments.models import CHARGE_PENDING, REQUIRES_ACTION, ProcessorAttempt
from checkstand.payments.outcomes import record_result
from checkstand.processors import stripe
from checkstand.processors.base import Outcome
from checkstand.processors.stripe import Receipt, Settlement


async def receive_stripe_event(gateway: Gateway, processor_id: str, payload: bytes, signature: str | None) -> Receipt:
    """One delivery to a Stripe connection's webhook (see :mod:`checkstand.processors.stripe` for what is checked)."""
    async with gateway.database.reading() as session:
        delivery = await stripe.verify_delivery(session, gateway.box, processor_id, payload, signature)
        repeated = await stripe.repeated_delivery(session, delivery)
    if repeated is not None:
        return repeated
    settlement = await stripe.settle_delivery(delivery, allow_private_urls=gateway.policy.processor_allow_private_urls)
    async with gateway.database.writing() as session:
        receipt = await stripe.store_delivery(session, delivery, settlement)
        if receipt.settlement is not None:
            await apply_settlement(session, processor_id, receipt.settlement, public_url=gateway.public_url)
            await stripe.mark_processed(session, delivery)
        await session.commit()
    return receipt


async def apply_settlement(
    session: AsyncSession, processor_id: str, settlement: Settlement, *, public_url: str
) -> bool:
    """What a Stripe event says of a charge, applied to its attempt: a challenge decided in Stripe.js completes or
    fails it as a resume would. A charge still being called is left to the request calling it, unless it succeeded
    (recording success early is always right; recording a decline there would cut its route short). Returns whether
    anything was applied."""
    processor_attempt = await session.scalar(
        select(ProcessorAttempt).where(
            ProcessorAttempt.processor_id == processor_id,
            ProcessorAttempt.idempotency_key == settlement.idempotency_key,
        )
    )
    if processor_attempt is None:
        return False
    status = processor_attempt.charge_status
    applies = status == REQUIRES_ACTION or (status == CHARGE_PENDING and settlement.result.outcome is Outcome.SUCCEEDED)
    if not applies or settlement.result.outcome is Outcome.REQUIRES_ACTION:
        return False
    await record_result(
        session,
        processor_attempt.account_id,
        processor_attempt.id,
        settlement.result,
        method=None,
        public_url=public_url,
    )
    return True
