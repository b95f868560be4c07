"""What an invoice's collection leaves behind, in the transaction that records it: a paid invoice moves its
subscription to the period it paid for (a renewal, a trial converted, an overdue period settled); a failed one puts
the subscription past due and schedules the next retry, or, after the last, ends as the dunning settings say.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.invoices import service as invoices
from checkstand.invoices.models import SUBSCRIPTION_CREATE, SUBSCRIPTION_CYCLE, SUBSCRIPTION_UPDATE, Invoice
from checkstand.payments.dunning import MARK_UNCOLLECTIBLE, DunningPolicy
from checkstand.subscriptions import creation, lifecycle
from checkstand.subscriptions.models import Subscription
from checkstand.subscriptions.plan_changes import amend_subscription, current_plan
from checkstand.subscriptions.proration import PlanLine, Proration

logger = logging.getLogger(__name__)

# The key of a plan-change invoice's metadata that holds the change it pays for (``payments.plan_changes``).
PLAN_CHANGE: Final = "plan_change"


async def invoice_paid(session: AsyncSession, invoice: Invoice, *, amount_atom: int, now: datetime) -> None:
    """Record the invoice paid and, for a renewal, move its subscription to the period paid for; a subscription's
    first invoice paid (at its creation, or later by a retry or a collect) makes an ``incomplete`` one active."""
    await invoices.mark_paid(session, invoice, paid_at=now, amount_atom=amount_atom)
    if invoice.subscription_id is not None and invoice.billing_reason == SUBSCRIPTION_CREATE:
        await creation.activate_incomplete(session, invoice.account_id, invoice.subscription_id)
        return
    if invoice.subscription_id is not None and PLAN_CHANGE in invoice.invoice_metadata:
        await _apply_plan_change(session, invoice, invoice.subscription_id)
        return
    if invoice.subscription_id is None or invoice.billing_reason != SUBSCRIPTION_CYCLE:
        return
    # A renewal always has its period.
    assert invoice.period_start is not None
    assert invoice.period_end is not None
    subscription = await lifecycle.lock_subscription(session, invoice.account_id, invoice.subscription_id)
    await lifecycle.period_paid(session, subscription, invoice.period_start, invoice.period_end)


async def invoice_failed(session: AsyncSession, invoice: Invoice, *, policy: DunningPolicy, now: datetime) -> None:
    """Count the failed attempt and schedule the next from the first failure (the invoice's issue); after the last,
    end the dunning. A plan change's invoice is not dunned: its change was not applied, so it is voided and the
    subscription stays as it was."""
    if invoice.billing_reason == SUBSCRIPTION_UPDATE and PLAN_CHANGE in invoice.invoice_metadata:
        await invoices.mark_payment_failed(session, invoice, next_attempt_at=None)
        await invoices.void(session, invoice)
        return
    next_attempt = policy.next_attempt_at(invoice.issued_at, invoice.attempt_count + 1)
    await invoices.mark_payment_failed(session, invoice, next_attempt_at=next_attempt)
    if invoice.subscription_id is None:
        return
    subscription = await lifecycle.lock_subscription(session, invoice.account_id, invoice.subscription_id)
    await lifecycle.mark_past_due(session, subscription)
    if next_attempt is None:
        await end_dunning(session, invoice, subscription, policy=policy, now=now)


async def end_dunning(
    session: AsyncSession, invoice: Invoice | None, subscription: Subscription, *, policy: DunningPolicy, now: datetime
) -> None:
    """No retry is left: the invoice is given up on (or left open) and the subscription canceled (or unpaid)."""
    if invoice is not None and policy.invoice_status_on_failure == MARK_UNCOLLECTIBLE:
        await invoices.mark_uncollectible(session, invoice)
    await lifecycle.end_unpaid(session, subscription, policy.subscription_status_on_failure, now)


async def _apply_plan_change(session: AsyncSession, invoice: Invoice, subscription_id: str) -> None:
    """The change a paid plan-change invoice was for, applied in the transaction that records it paid (so recovery
    settling a charge a dead process left applies it too). It applies only to the plan and period it was priced on;
    a subscription changed meanwhile (another change, a renewal) keeps its state and the invoice says so."""
    change = invoice.invoice_metadata[PLAN_CHANGE]
    subscription = await lifecycle.lock_subscription(session, invoice.account_id, subscription_id)
    proration = Proration.from_dict(change["proration"])
    old = [PlanLine.from_dict(line) for line in change["old"]]
    if current_plan(subscription) != old or subscription.current_period_end != proration.period_end:
        logger.warning("plan change of invoice %s not applied: subscription %s changed", invoice.id, subscription_id)
        invoice.invoice_metadata = {**invoice.invoice_metadata, PLAN_CHANGE: {**change, "applied": False}}
        return
    new = [PlanLine.from_dict(line) for line in change["new"]]
    await amend_subscription(session, subscription, new, proration, credit_to_balance=False)
    invoice.invoice_metadata = {**invoice.invoice_metadata, PLAN_CHANGE: {**change, "applied": True}}
