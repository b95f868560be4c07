"""Completing a paid checkout session: everything a successful charge leaves behind, in one transaction.

The caller holds the session's row lock. The customer (the session's own, else one found by email within the
account, else a new one), the payment, the session's success (which counts the discount's use), the subscription
when the paid tier recurs, and their events are written together, so a crash leaves all of them or none. The
payment is unique per session in the database, the last guard against completing one session twice.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout import lifecycle
from checkstand.checkout import service as checkout_service
from checkstand.checkout.models import CheckoutSession
from checkstand.core.ids import new_id
from checkstand.customers import service as customers
from checkstand.customers.models import Customer
from checkstand.events.service import record_event
from checkstand.payments.models import CheckoutAttempt, Payment, ProcessorAttempt
from checkstand.subscriptions import service as subscriptions

PAYMENT_PREFIX: Final = "pay"
PAYMENT_SUCCEEDED: Final = "succeeded"


def recurs(checkout: CheckoutSession, tier: int) -> bool:
    """Whether the tier sells a recurring price (its payment method is then saved for renewals)."""
    return any(item.recurring_interval is not None for item in checkout_service.tier_items(checkout, tier))


async def complete(
    session: AsyncSession, checkout: CheckoutSession, attempt: CheckoutAttempt, charged: ProcessorAttempt
) -> Payment:
    customer = await _customer(session, checkout, attempt)
    # The session names its buyer from now on, so the discount's per-customer limits count the right one.
    checkout.customer_id = customer.id
    attempt.customer_id = customer.id
    payment = Payment(
        id=new_id(PAYMENT_PREFIX),
        account_id=checkout.account_id,
        checkout_session_id=checkout.id,
        checkout_attempt_id=attempt.id,
        processor_attempt_id=charged.id,
        customer_id=customer.id,
        processor_id=charged.processor_id,
        processor_reference=charged.processor_reference,
        payment_method_reference=charged.saved_payment_method or attempt.payment_method_reference,
        status=PAYMENT_SUCCEEDED,
        tier=charged.tier,
        amount_atom=charged.amount_atom,
        currency=charged.currency,
    )
    session.add(payment)
    await session.flush()
    await lifecycle.mark_completed(session, checkout, tier=charged.tier)
    subscription = await subscriptions.create_from_checkout(
        session,
        checkout,
        tier=charged.tier,
        customer_id=customer.id,
        payment_method_reference=charged.saved_payment_method,
        processor_id=charged.processor_id,
    )
    attempt.subscription_id = subscription.id if subscription is not None else None
    attempt.saved_payment_method = charged.saved_payment_method
    await customers.mark_first_purchase(session, customer)
    await record_event(session, account_id=checkout.account_id, type="payment.succeeded", obj=payment)
    return payment


async def _customer(session: AsyncSession, checkout: CheckoutSession, attempt: CheckoutAttempt) -> Customer:
    if checkout.customer_id is not None:
        return await customers.get_customer(session, checkout.account_id, checkout.customer_id)
    email = str(attempt.submitted_customer_info["email"])
    existing = await customers.find_by_email(session, checkout.account_id, email)
    if existing is not None:
        return existing
    first, _, last = str(attempt.submitted_customer_info.get("name", "")).strip().partition(" ")
    return await customers.create_customer(
        session, checkout.account_id, email=email, first_name=first or None, last_name=last.strip() or None
    )
