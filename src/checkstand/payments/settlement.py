"""What an invoice's collection leaves behind, in the transaction that records it: a paid invoice moves its
subscription to the period it paid for (a renewal, a trial converted, an overdue period settled); a failed one puts
the subscription past due and schedules the next retry, or, after the last, ends as the dunning settings say.

A plan change's invoice (``Invoice.plan_change``) applies its change when paid, if the subscription is still on the
plan and period it was priced on. If not (a renewal ran, it was canceled, another change applied between the charge
and its settlement) the money was taken for a change that can't apply: as Stripe does for a pending update that
can't be applied, the invoice is voided and the subscription left as it is; the charge is refunded in full, and the
credit balance the invoice used is given back (as it is when the charge is declined). The
refund is staged (pending, amount reserved) in this transaction, so it is made exactly once: by the caller right
after the commit (:func:`checkstand.payments.refunds.make_staged_refunds`), else by the refund recovery job.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Final

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.customers import service as customers
from checkstand.invoices import renewal
from checkstand.invoices import service as invoices
from checkstand.invoices.models import SUBSCRIPTION_CREATE, SUBSCRIPTION_CYCLE, SUBSCRIPTION_UPDATE, Invoice
from checkstand.payments import refunds
from checkstand.payments.dunning import MARK_UNCOLLECTIBLE, DunningPolicy
from checkstand.payments.models import SUCCEEDED, Payment, PaymentCharge, Refund
from checkstand.subscriptions import creation, lifecycle
from checkstand.subscriptions.models import ACTIVE, TRIALING, Subscription
from checkstand.subscriptions.plan_changes import amend_subscription, current_plan
from checkstand.subscriptions.proration import PlanLine, Proration

logger = logging.getLogger(__name__)

# Why an automatic refund was made, in its metadata.
REFUND_CAUSE: Final = "plan_change_not_applied"


async def invoice_paid(session: AsyncSession, invoice: Invoice, *, amount_atom: int, now: datetime) -> Refund | None:
    """Record the invoice paid and, for a renewal, move its subscription to the period paid for; a subscription's
    first invoice paid (at its creation, or later by a retry or a collect) makes an ``incomplete`` one active. A
    plan change's invoice applies its change, or stages its refund (returned: the caller makes it once committed)."""
    if invoice.subscription_id is not None and invoice.plan_change is not None:
        return await _settle_plan_change(session, invoice, invoice.subscription_id, amount_atom=amount_atom, now=now)
    await invoices.mark_paid(session, invoice, paid_at=now, amount_atom=amount_atom)
    if invoice.subscription_id is not None and invoice.billing_reason == SUBSCRIPTION_CREATE:
        await creation.activate_incomplete(session, invoice.account_id, invoice.subscription_id)
        return None
    if invoice.subscription_id is None or invoice.billing_reason != SUBSCRIPTION_CYCLE:
        return None
    # A renewal always has its period.
    assert invoice.period_start is not None
    assert invoice.period_end is not None
    subscription = await lifecycle.lock_subscription(session, invoice.account_id, invoice.subscription_id)
    await lifecycle.period_paid(session, subscription, invoice.period_start, invoice.period_end)
    return None


async def invoice_failed(session: AsyncSession, invoice: Invoice, *, policy: DunningPolicy, now: datetime) -> None:
    """Count the failed attempt and schedule the next from the first failure (the invoice's issue); after the last,
    end the dunning. A plan change's invoice is not dunned: its change was not applied, so it is voided and the
    subscription stays as it was."""
    if invoice.billing_reason == SUBSCRIPTION_UPDATE and invoice.plan_change is not None:
        await invoices.mark_payment_failed(session, invoice, next_attempt_at=None)
        await invoices.void(session, invoice)
        await _give_back_credit(session, invoice)
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


async def _settle_plan_change(
    session: AsyncSession, invoice: Invoice, subscription_id: str, *, amount_atom: int, now: datetime
) -> Refund | None:
    """The change a paid plan-change invoice was for, applied in the transaction that records it paid (so recovery
    settling a charge a dead process left applies it too), or, when the subscription changed meanwhile, the invoice
    voided and its charge's refund staged (see the module's docstring)."""
    change = invoice.plan_change
    assert change is not None
    subscription = await lifecycle.lock_subscription(session, invoice.account_id, subscription_id)
    proration = Proration.from_dict(change["proration"])
    old = [PlanLine.from_dict(line) for line in change["old"]]
    if (
        subscription.status in (ACTIVE, TRIALING)
        and current_plan(subscription) == old
        and subscription.current_period_end == proration.period_end
        and not await renewal_underway(session, subscription)
    ):
        await invoices.mark_paid(session, invoice, paid_at=now, amount_atom=amount_atom)
        new = [PlanLine.from_dict(line) for line in change["new"]]
        await amend_subscription(session, subscription, new, proration, credit_to_balance=False)
        invoice.plan_change = {**change, "applied": True}
        return None
    logger.warning("plan change of invoice %s not applied: subscription %s changed", invoice.id, subscription_id)
    await invoices.void(session, invoice)
    await _give_back_credit(session, invoice)
    charge = await session.scalar(
        select(PaymentCharge)
        .join(Payment, Payment.id == PaymentCharge.payment_id)
        .where(Payment.invoice_id == invoice.id, PaymentCharge.status == SUCCEEDED)
    )
    refund = None
    if charge is not None and charge.amount_atom > charge.amount_refunded_atom:
        refund = await refunds.stage_full_refund(
            session, charge, metadata={"cause": REFUND_CAUSE, "invoice_id": invoice.id}
        )
    invoice.plan_change = {**change, "applied": False, "refund_id": refund.id if refund is not None else None}
    return refund


async def _give_back_credit(session: AsyncSession, invoice: Invoice) -> None:
    """A voided plan-change invoice bought nothing: the credit balance it used goes back to the customer."""
    used = -sum(line.amount_atom for line in invoice.lines if line.line_metadata.get(invoices.CREDIT_BALANCE))
    if used > 0:
        customer = await customers.get_customer(session, invoice.account_id, invoice.customer_id)
        await customers.add_credit(session, customer, used, invoice.currency)


async def renewal_underway(session: AsyncSession, subscription: Subscription) -> bool:
    """Whether the worker has made the subscription's next renewal invoice and its payment, under the subscription's
    row lock the caller holds. That invoice bills the plan held when it was made and moves the subscription on only
    when its charge settles, so a plan change applied in between would leave the new period on the new plan, billed
    at the old one: such a change must be refused (or its money refunded) instead."""
    return bool(
        await session.scalar(
            select(
                exists().where(
                    Payment.invoice_id == Invoice.id,
                    Invoice.subscription_id == subscription.id,
                    Invoice.billing_reason == SUBSCRIPTION_CYCLE,
                    Invoice.period_start == renewal.next_period(subscription)[0],
                )
            )
        )
    )
