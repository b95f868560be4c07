"""Starting a subscription the API creates, and activating one, where both need its invoices and its payment.

Without a trial, the first period is invoiced (``subscription_create``) and charged on the saved method at once,
exactly as a renewal is: the invoice, the payment and its pending charge are committed first, the processor is
called with no transaction open, and the answer settled after. The subscription is ``incomplete`` until that payment
succeeds, then active (Stripe's ``allow_incomplete``): a declined card leaves an incomplete subscription and an
invoice in dunning, never a subscription that looks paid.

Activation (the SDK's ``activate``) ends a trial that is over, or completes an incomplete subscription whose first
invoice is paid; it never ends a trial early: the SDK answers that with a 400.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core.errors import CheckstandError, Conflict
from checkstand.events.service import record_event, snapshot
from checkstand.invoices import renewal
from checkstand.invoices import service as invoices
from checkstand.invoices.models import PAID, SUBSCRIPTION_CREATE, Invoice
from checkstand.payments import off_session
from checkstand.payments.adapters import Gateway
from checkstand.subscriptions import creation
from checkstand.subscriptions import service as subscriptions
from checkstand.subscriptions.models import ACTIVE, CANCELED, INCOMPLETE, TRIALING, Subscription
from checkstand.test_clocks.service import now_for_customer

ACTIVATED: Final = "activated"
SKIPPED: Final = "skipped"
FAILED: Final = "failed"


async def start_subscription(gateway: Gateway, account_id: str, spec: creation.NewSubscription) -> Subscription:
    """Create the subscription; without a trial, invoice and charge its first period. Answers it as it stands."""
    async with gateway.database.writing() as session:
        subscription = await creation.create_subscription(session, account_id, spec)
        subscription_id = subscription.id
        staged = None
        if subscription.status == INCOMPLETE:
            now = await now_for_customer(session, subscription.customer_id)
            invoice = await invoices.create_invoice(
                session,
                account_id,
                customer_id=subscription.customer_id,
                currency=subscription.currency,
                lines=renewal.renewal_lines(
                    subscription, subscription.current_period_start, subscription.current_period_end
                ),
                billing_reason=SUBSCRIPTION_CREATE,
                issued_at=now,
                subscription_id=subscription.id,
                period_start=subscription.current_period_start,
                period_end=subscription.current_period_end,
                description=subscription.description,
            )
            payment = await off_session.new_invoice_payment(session, invoice, subscription)
            staged = await off_session.begin_charge(session, gateway, payment, now=now)
        await session.commit()
    if staged is not None:
        # Settling a paid first invoice activates the subscription, in the settlement's own transaction.
        await off_session.make_charge(gateway, staged)
    async with gateway.database.reading() as session:
        return await subscriptions.get_subscription(session, account_id, subscription_id)


@dataclass(frozen=True)
class Activation:
    """The SDK's ``SubscriptionActivationResult``: activated, skipped (nothing to do yet, or already active) or
    failed (its first invoice is unpaid)."""

    status: str
    subscription: Subscription
    reason: str | None = None


async def activate(session: AsyncSession, account_id: str, subscription_id: str) -> Activation:
    """Trialing with the trial over, or incomplete with its first invoice paid: active now (records
    ``subscription.updated``). A trial still running is skipped; a canceled subscription is a conflict."""
    subscription = await subscriptions.locked_subscription(session, account_id, subscription_id)
    if subscription.status == CANCELED:
        raise Conflict(f"Subscription {subscription.id} is canceled.", code="subscription_canceled")
    if subscription.status == ACTIVE:
        return Activation(SKIPPED, subscription, "already active")
    now = await now_for_customer(session, subscription.customer_id)
    if subscription.status == TRIALING and subscription.trial_end is not None and now < subscription.trial_end:
        return Activation(SKIPPED, subscription, "the trial is still active")
    if subscription.status not in (TRIALING, INCOMPLETE):
        return Activation(SKIPPED, subscription, f"a {subscription.status} subscription is not activated")
    first = await session.scalar(
        select(Invoice).where(
            Invoice.account_id == account_id,
            Invoice.subscription_id == subscription.id,
            Invoice.billing_reason == SUBSCRIPTION_CREATE,
        )
    )
    if (first is None and subscription.status == INCOMPLETE) or (first is not None and first.status != PAID):
        return Activation(FAILED, subscription, "the subscription's first invoice is not paid")
    before = snapshot(subscription)
    subscription.status = ACTIVE
    await session.flush()
    await record_event(session, account_id=account_id, type="subscription.updated", obj=subscription, before=before)
    return Activation(ACTIVATED, subscription)


class TrialStillActive(CheckstandError):
    """The SDK's public ``activate`` answers a trial that has not ended with a 400."""

    status_code = 400
    code = "trial_still_active"
    title = "Trial still active"


def require_activated(activation: Activation) -> Subscription:
    """The public call's answer: the subscription once active (or already so); a running trial is a 400 and an
    unpaid first invoice a 409."""
    if activation.status == SKIPPED and activation.subscription.status == TRIALING:
        raise TrialStillActive(f"Subscription {activation.subscription.id}'s trial has not ended yet.")
    if activation.status == FAILED:
        raise Conflict(activation.reason or "not activated", code="first_invoice_unpaid")
    return activation.subscription
