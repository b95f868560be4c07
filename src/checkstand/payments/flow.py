"""Paying a checkout session: an attempt charges processors one at a time until it succeeds, fails, or waits for
the customer's 3-D Secure challenge.

The flow follows Stripe's idempotency design. Each processor attempt is committed as ``pending``, with its
idempotency key, *before* the processor is called; the call runs with no database transaction open, so a slow
processor holds no lock another request waits for (on SQLite, the database-wide write lock); its answer is then
recorded in a new short transaction under the session's lock (:mod:`checkstand.payments.outcomes`). A process dying
between the call and the record leaves the attempt ``processing``, and the recovery pass
(:mod:`checkstand.payments.recovery`) asks the processor again with the same key, which answers what it did the
first time and never charges twice.

So the steps can't share one unit of work: they run through the :class:`~checkstand.payments.adapters.Gateway`'s
database, one transaction each. Completion (:mod:`checkstand.payments.completion`) happens at most once per
session: the session row is locked and re-checked, checkout refuses a second attempt (and any change of the amount)
while the session is being paid, and the payment is unique per session in the database itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout import contact_details
from checkstand.checkout import service as checkout_service
from checkstand.checkout.models import PRIMARY_TIER, CheckoutSession
from checkstand.core.errors import FieldProblem, InvalidFields
from checkstand.core.ids import new_id
from checkstand.events.service import record_event
from checkstand.payments import completion, leases, plan_change_sessions, refunds
from checkstand.payments.adapters import Gateway, adapter_for, load_processor
from checkstand.payments.cascade import PendingCharge, advance
from checkstand.payments.models import FAILED, PENDING, PROCESSING, SUCCEEDED, CheckoutAttempt, Payment
from checkstand.payments.outcomes import record_result
from checkstand.payments.rate_limits import RateLimits, check_rate_limits
from checkstand.payments.service import get_attempt
from checkstand.payments.transitions import move
from checkstand.processors.base import ChargeResult, OutcomeUnknown, PaymentMethod, SetupRequest

ATTEMPT_PREFIX: Final = "catt"
# The transition reason of an attempt that completed its session with no processor call.
NOTHING_DUE: Final = "nothing_due"


@dataclass(frozen=True)
class CustomerDetails:
    """Who pays; ``phone`` and ``address`` are read only when the session asks for them
    (:mod:`checkstand.checkout.contact_details`)."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None
    address: Mapping[str, str | None] | None = None


@dataclass(frozen=True)
class Confirmation:
    """What the customer submits. Amounts are never part of it, nor the tier: an attempt always starts at the
    primary tier, and only the server moves it down the cascade (a customer choosing a fallback tier would simply
    pay the cheaper price)."""

    payment_method: PaymentMethod
    customer: CustomerDetails = CustomerDetails()
    promotion_code: str | None = None
    client_ip: str | None = None


async def confirm(gateway: Gateway, secure_token: str, confirmation: Confirmation) -> CheckoutAttempt:
    """Pay the session: start an attempt, then charge until it succeeds, fails or waits for the customer."""
    async with gateway.database.writing() as session:
        attempt, pending = await begin_attempt(
            session, secure_token, confirmation, public_url=gateway.public_url, limits=gateway.policy.rate_limits
        )
        await leases.hold(session, attempt.id, gateway.policy.attempt_lease, gateway.lease_owner)
        await session.commit()
    return await drive(gateway, attempt.account_id, attempt.id, pending, confirmation.payment_method)


async def begin_attempt(
    session: AsyncSession, secure_token: str, confirmation: Confirmation, *, public_url: str, limits: RateLimits
) -> tuple[CheckoutAttempt, PendingCharge | None]:
    """Lock the open session, start the attempt that pays it and stage its first charge; the caller stamps the
    attempt's lease and commits before calling the processor. Bad input changes nothing (the caller's transaction
    rolls back)."""
    checkout = await checkout_service.lock_open_session(session, secure_token)
    fingerprint = limits.card_fingerprint(confirmation.payment_method)
    await check_rate_limits(session, checkout, confirmation.client_ip, fingerprint, limits)
    _check_confirmation(checkout, confirmation)
    contact_details.take_contact(checkout, confirmation.customer.phone, confirmation.customer.address)
    if confirmation.promotion_code is not None:
        await checkout_service.apply_promotion_code(session, checkout, confirmation.promotion_code)

    method = confirmation.payment_method
    attempt = CheckoutAttempt(
        id=new_id(ATTEMPT_PREFIX),
        account_id=checkout.account_id,
        checkout_session_id=checkout.id,
        customer_id=checkout.customer_id,
        state=PENDING,
        tier=PRIMARY_TIER,
        currency=checkout.currency,
        submitted_customer_info={
            key: value
            for key, value in (("name", confirmation.customer.name), ("email", confirmation.customer.email))
            if value is not None
        },
        # A processor's payment method id is no secret and goes on the payment; a card number is never kept.
        payment_method_reference=method.processor_reference,
        three_ds_mode=checkout.three_ds_mode,
        client_ip=confirmation.client_ip,
        card_fingerprint=fingerprint,
        processor_attempts=[],
        transitions=[],
    )
    await plan_change_sessions.hold_subscription(session, checkout)
    checkout_service.begin_payment(checkout, attempt.id)
    session.add(attempt)
    await session.flush()
    await record_event(session, account_id=attempt.account_id, type="checkout_attempt.created", obj=attempt)
    await move(session, attempt, PROCESSING, tier=attempt.tier)
    if plan_change_sessions.nothing_due(checkout):
        # A plan change owing nothing now completes with no processor attempt: nothing to charge or set up.
        await completion.complete_without_charge(session, checkout, attempt)
        checkout_service.end_payment(checkout, attempt.id)
        await move(session, attempt, SUCCEEDED, reason=NOTHING_DUE)
        await record_event(session, account_id=attempt.account_id, type="checkout_attempt.succeeded", obj=attempt)
        return attempt, None
    pending = await advance(session, checkout, attempt, method, next_tier=False, public_url=public_url)
    return attempt, pending


async def drive(
    gateway: Gateway, account_id: str, attempt_id: str, pending: PendingCharge | None, method: PaymentMethod | None
) -> CheckoutAttempt:
    """Call processors one at a time until the attempt settles. A processor that can't tell what it did leaves the
    attempt processing for the recovery pass: trying another one could charge the customer twice. Meanwhile the
    attempt's lease is renewed, so recovery leaves it to this process for as long as it lives."""
    async with leases.renewing(gateway.database, attempt_id, gateway.policy.attempt_lease, gateway.lease_owner):
        while pending is not None:
            try:
                result = await call_processor(gateway, pending)
            except OutcomeUnknown:
                break
            pending = await record_answer(gateway, account_id, pending.processor_attempt_id, result, method=method)
    async with gateway.database.reading() as session:
        attempt = await get_attempt(session, account_id, attempt_id)
        refunded = (
            await session.scalar(select(Payment.id).where(Payment.checkout_attempt_id == attempt_id))
            if attempt.state == FAILED
            else None
        )
    if refunded is not None:
        # A charge taken for a plan change that could no longer apply: its refund, staged with the failure.
        await refunds.make_staged_refunds(gateway, account_id, refunded)
    return attempt


async def call_processor(gateway: Gateway, pending: PendingCharge) -> ChargeResult:
    """The processor call, a charge or a setup, with no transaction open (the simulator opens its own on its
    "network" table)."""
    processor = await load_processor(gateway, pending.processor_id)
    async with adapter_for(gateway, processor) as adapter:
        if isinstance(pending.request, SetupRequest):
            return await adapter.setup(pending.request)
        return await adapter.charge(pending.request)


async def record_answer(
    gateway: Gateway, account_id: str, processor_attempt_id: str, result: ChargeResult, *, method: PaymentMethod | None
) -> PendingCharge | None:
    """What a processor answered, recorded in a short transaction of its own; the next charge to make, if any."""
    async with gateway.database.writing() as session:
        pending = await record_result(
            session, account_id, processor_attempt_id, result, method=method, public_url=gateway.public_url
        )
        if pending is not None:  # the next call is this process's: a challenge decided, or the cascade going on
            await leases.hold(session, pending.attempt_id, gateway.policy.attempt_lease, gateway.lease_owner)
        await session.commit()
    return pending


def _check_confirmation(checkout: CheckoutSession, confirmation: Confirmation) -> None:
    problems: list[FieldProblem] = []
    if checkout.customer_id is None:
        problems += [
            FieldProblem(("customer", name), "required when the session has no customer", "missing")
            for name in ("name", "email")
            if not getattr(confirmation.customer, name)
        ]
    problems += contact_details.contact_problems(checkout, confirmation.customer.phone, confirmation.customer.address)
    if problems:
        raise InvalidFields(problems)
