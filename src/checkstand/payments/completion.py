"""Completing a paid checkout session: everything a successful charge leaves behind, in one transaction.

The caller holds the session's row lock. The customer (the session's own, else one found by email within the
account, else a new one), the payment (none after a setup: a trial charges nothing at checkout), the session's
success (which counts the discount's use), the subscription when the paid tier recurs, and their events are written
together, so a crash leaves all of them or none. The payment, and the subscription, are each unique per session in
the database: the last guards against completing one session twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout import lifecycle
from checkstand.checkout import service as checkout_service
from checkstand.checkout.models import PRIMARY_TIER, CheckoutSession
from checkstand.core.ids import new_id
from checkstand.customers import service as customers
from checkstand.customers.models import Customer
from checkstand.events.service import record_event
from checkstand.invoices import service as invoices
from checkstand.invoices.models import MANUAL, SUBSCRIPTION_CREATE, SUBSCRIPTION_UPDATE
from checkstand.payment_methods import service as payment_methods
from checkstand.payment_methods.models import SavedPaymentMethod
from checkstand.payments import plan_change_sessions, refunds
from checkstand.payments.models import (
    PAYMENT_CHARGE_PREFIX,
    CheckoutAttempt,
    Payment,
    PaymentCharge,
    ProcessorAttempt,
    Refund,
)
from checkstand.processors.base import SavedCard
from checkstand.subscriptions import order_numbers
from checkstand.subscriptions import service as subscriptions
from checkstand.subscriptions.models import Subscription
from checkstand.test_clocks.service import now_for_customer

PAYMENT_PREFIX: Final = "pay"
PAYMENT_SUCCEEDED: Final = "succeeded"


def recurs(checkout: CheckoutSession, tier: int) -> bool:
    """Whether the tier sells a recurring price (its payment method is then saved for renewals)."""
    return any(item.recurring_interval is not None for item in checkout_service.tier_items(checkout, tier))


async def complete(
    session: AsyncSession,
    checkout: CheckoutSession,
    attempt: CheckoutAttempt,
    charged: ProcessorAttempt,
    saved_card: SavedCard | None = None,
) -> Payment | None:
    """``saved_card`` is what the processor said of the method it saved with the charge (or setup), if it did."""
    customer = await _customer(session, checkout, attempt)
    await _keep_contact(session, checkout, customer.id)
    # The session names its buyer from now on, so the discount's per-customer limits count the right one.
    checkout.customer_id = customer.id
    attempt.customer_id = customer.id
    method = await _saved_method(session, checkout, charged, customer, saved_card)
    # The buyer's time: a customer on a test clock pays, and is invoiced, at the clock's frozen time.
    now = await now_for_customer(session, customer.id)
    # A setup (a trial: nothing due today) took no money, so it leaves no payment: the saved payment method and the
    # subscription are what it completes.
    payment = (
        None if charged.is_setup else await _record_payment(session, checkout, attempt, charged, customer, method, now)
    )
    await lifecycle.mark_completed(session, checkout, tier=charged.tier, now=now)
    if checkout.changes_subscription_id is not None:
        # A plan change amends the customer's subscription: never a second one. Its charge is the proration's net.
        changed = await plan_change_sessions.complete_plan_change(session, checkout)
        attempt.subscription_id = changed.id
        attempt.saved_payment_method = charged.saved_payment_method
        if payment is not None:
            await _record_plan_change_invoice(session, checkout, payment, changed, now)
            await record_event(session, account_id=checkout.account_id, type="payment.succeeded", obj=payment)
        return payment
    subscription = await subscriptions.create_from_checkout(
        session,
        checkout,
        tier=charged.tier,
        customer_id=customer.id,
        payment_method_reference=charged.saved_payment_method,
        processor_id=charged.processor_id,
        default_payment_method=method,
    )
    attempt.subscription_id = subscription.id if subscription is not None else None
    attempt.saved_payment_method = charged.saved_payment_method
    if subscription is None:
        await order_numbers.number_purchase(session, checkout)
    if payment is not None:
        await _record_invoice(session, checkout, payment, subscription, now)
    await customers.mark_first_purchase(session, customer)
    if payment is not None:
        await record_event(session, account_id=checkout.account_id, type="payment.succeeded", obj=payment)
    return payment


async def complete_without_charge(session: AsyncSession, checkout: CheckoutSession, attempt: CheckoutAttempt) -> None:
    """Complete a plan-change session that has nothing to charge (a downgrade, any change whose net is 0 or a
    credit) with no processor call: the subscription already has its saved method, so there is nothing to set up
    either. The subscription is amended and the unused time credited to the customer's balance (the next invoice
    uses it up); no payment, no invoice, as Stripe leaves none for a change that charges nothing now."""
    assert checkout.customer_id is not None  # a plan-change session is always for a known customer
    attempt.customer_id = checkout.customer_id
    await _keep_contact(session, checkout, checkout.customer_id)
    now = await now_for_customer(session, checkout.customer_id)
    await lifecycle.mark_completed(session, checkout, tier=PRIMARY_TIER, now=now)
    changed = await plan_change_sessions.complete_plan_change(session, checkout)
    attempt.subscription_id = changed.id


async def refund_unapplied_change(
    session: AsyncSession, checkout: CheckoutSession, attempt: CheckoutAttempt, charged: ProcessorAttempt
) -> Refund | None:
    """A plan-change session's charge succeeded but its change can no longer apply (the subscription was renewed,
    canceled or changed between the payment's start and its answer): the money is recorded as the payment it is
    and its refund in full staged, in the caller's transaction, for the caller to make once committed (the refund
    recovery job makes it otherwise). The session is not completed (nothing was bought; the attempt fails and a new
    try is refused as stale), as a Stripe PaymentIntent whose order can't be fulfilled is refunded rather than
    fulfilled. None when the processor took nothing (a setup)."""
    if charged.is_setup or charged.amount_atom <= 0 or checkout.customer_id is None:
        return None
    customer = await customers.get_customer(session, checkout.account_id, checkout.customer_id)
    now = await now_for_customer(session, customer.id)
    payment = await _record_payment(session, checkout, attempt, charged, customer, None, now)
    payment.subscription_id = checkout.changes_subscription_id
    await record_event(session, account_id=checkout.account_id, type="payment.succeeded", obj=payment)
    charge = await session.scalar(select(PaymentCharge).where(PaymentCharge.payment_id == payment.id))
    assert charge is not None  # recorded with the payment
    return await refunds.stage_full_refund(
        session, charge, metadata={"cause": "plan_change_not_applied", "checkout_session_id": checkout.id}
    )


async def _record_payment(
    session: AsyncSession,
    checkout: CheckoutSession,
    attempt: CheckoutAttempt,
    charged: ProcessorAttempt,
    customer: Customer,
    method: SavedPaymentMethod | None,
    now: datetime,
) -> Payment:
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
        payment_method_id=method.id if method is not None else None,
        status=PAYMENT_SUCCEEDED,
        tier=charged.tier,
        amount_atom=charged.amount_atom,
        currency=charged.currency,
    )
    session.add(payment)
    await session.flush()
    # The processor attempt that took the money is the payment's one charge: what refunds and listings work on.
    session.add(
        PaymentCharge(
            id=new_id(PAYMENT_CHARGE_PREFIX),
            account_id=payment.account_id,
            payment_id=payment.id,
            customer_id=customer.id,
            processor_id=charged.processor_id,
            payment_method_id=payment.payment_method_id,
            idempotency_key=charged.idempotency_key or charged.id,
            amount_atom=charged.amount_atom,
            currency=charged.currency,
            status=PAYMENT_SUCCEEDED,
            processor_reference=charged.processor_reference,
            captured_at=now,
        )
    )
    return payment


async def _record_invoice(
    session: AsyncSession,
    checkout: CheckoutSession,
    payment: Payment,
    subscription: Subscription | None,
    now: datetime,
) -> None:
    """Every checkout payment has its invoice, paid: the tier's lines as sold, the discount being what they came to
    beyond the amount charged. A subscription's first one covers its first period."""
    lines = [
        invoices.sold_line(
            item.product_name,
            item.quantity,
            item.unit_amount_atom,
            item.amount_subtotal_atom,
            price_id=item.price_id,
            product_id=item.product_id,
            description=item.description,
        )
        for item in checkout_service.tier_items(checkout, payment.tier or PRIMARY_TIER)
    ]
    subtotal = sum(line.amount_atom for line in lines)
    invoice = await invoices.create_invoice(
        session,
        checkout.account_id,
        customer_id=payment.customer_id,
        currency=payment.currency,
        lines=lines,
        discount_atom=min(max(subtotal - payment.amount_atom, 0), subtotal),
        billing_reason=SUBSCRIPTION_CREATE if subscription is not None else MANUAL,
        subscription_id=subscription.id if subscription is not None else None,
        checkout_session_id=checkout.id,
        period_start=subscription.current_period_start if subscription is not None else None,
        period_end=subscription.current_period_end if subscription is not None else None,
        issued_at=now,
    )
    payment.invoice_id = invoice.id
    payment.subscription_id = invoice.subscription_id
    await invoices.mark_paid(session, invoice, paid_at=now, amount_atom=payment.amount_atom)


async def _record_plan_change_invoice(
    session: AsyncSession, checkout: CheckoutSession, payment: Payment, subscription: Subscription, now: datetime
) -> None:
    """The proration invoice, paid: the charge for the new plan's rest of the period, the unused time's credit as
    its discount (what the net charged comes to)."""
    assert checkout.proration is not None
    lines = [
        invoices.LineSpec(
            name=str(line["description"]),
            quantity=1,
            unit_amount_atom=int(line["amount_atom"]),
            price_id=line["price_id"],
            period_start=datetime.fromisoformat(line["period_start"]),
            period_end=datetime.fromisoformat(line["period_end"]),
        )
        for line in checkout.proration["lines"]
        if int(line["amount_atom"]) > 0
    ]
    subtotal = sum(line.amount_atom for line in lines)
    invoice = await invoices.create_invoice(
        session,
        checkout.account_id,
        customer_id=payment.customer_id,
        currency=payment.currency,
        lines=lines,
        discount_atom=min(max(subtotal - payment.amount_atom, 0), subtotal),
        billing_reason=SUBSCRIPTION_UPDATE,
        subscription_id=subscription.id,
        checkout_session_id=checkout.id,
        period_start=checkout.proration_date,
        period_end=subscription.current_period_end,
        issued_at=now,
    )
    payment.invoice_id = invoice.id
    payment.subscription_id = subscription.id
    await invoices.mark_paid(session, invoice, paid_at=now, amount_atom=payment.amount_atom)


async def _saved_method(
    session: AsyncSession,
    checkout: CheckoutSession,
    charged: ProcessorAttempt,
    customer: Customer,
    saved_card: SavedCard | None,
) -> SavedPaymentMethod | None:
    """The customer's saved payment method, when the paid tier recurs and the processor saved the card: what the
    subscription's renewals charge. Saving is idempotent per processor reference, so a card saved before (a
    returning customer's saved method paying again) is the same method."""
    if charged.saved_payment_method is None or saved_card is None or not recurs(checkout, charged.tier):
        return None
    return await payment_methods.save_payment_method(
        session,
        checkout.account_id,
        customer_id=customer.id,
        processor_id=charged.processor_id,
        processor_reference=charged.saved_payment_method,
        card=saved_card,
    )


async def _keep_contact(session: AsyncSession, checkout: CheckoutSession, customer_id: str) -> None:
    """The phone number and address the session asked for (kept on it when its payment began), given to its
    customer in place of what it had."""
    given = {"phone": checkout.customer_phone, "address": checkout.customer_address}
    changes = {name: value for name, value in given.items() if value is not None}
    if changes:
        await customers.update_customer(session, checkout.account_id, customer_id, changes)


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
