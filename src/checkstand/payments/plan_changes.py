"""Changing a subscription's items with proration, as the API's ``update_subscription_items`` asks.

``create_prorations`` applies the change at once and leaves its proration lines as pending items, which the next
renewal invoice takes. ``always_invoice`` invoices the prorated lines and charges the net now on the saved method,
and applies the change only if that payment succeeds: the invoice carries the change (old plan, new plan, the
proration) in its metadata and the charge's settlement applies it, in the transaction that records the payment
(``payments.settlement``), so a charge that recovery settles after a crash applies it too; a declined charge voids
the invoice and leaves the subscription as it was. A change that nets a credit charges nothing: it applies at once
and the credit goes to the customer's balance, which the next invoice uses up.

As every off-session charge, the processor is called with no transaction open: the invoice, its payment and the
pending charge are committed first under the subscription's row lock, which also refuses a second change while one
is being charged (``plan_change_in_progress``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core.errors import Conflict, InvalidFields
from checkstand.invoices import service as invoices
from checkstand.invoices.models import OPEN, SUBSCRIPTION_UPDATE, Invoice
from checkstand.payments import off_session
from checkstand.payments.adapters import Gateway
from checkstand.payments.models import Payment
from checkstand.payments.settlement import PLAN_CHANGE
from checkstand.subscriptions import changes
from checkstand.subscriptions import service as subscriptions
from checkstand.subscriptions.models import Subscription
from checkstand.subscriptions.plan_changes import amend_subscription, current_plan, preview_plan_change
from checkstand.subscriptions.proration import Proration, ProrationLine
from checkstand.subscriptions.timing import now_for

ALWAYS_INVOICE: Final = "always_invoice"
CREATE_PRORATIONS: Final = "create_prorations"


@dataclass(frozen=True)
class ItemsChanged:
    """What the SDK's ``UpdateSubscriptionItemsResponse`` reports: the subscription as it now stands, the net
    proration, and the invoice and its payment (``always_invoice``) or the floating items left
    (``create_prorations``)."""

    subscription: Subscription
    proration_amount_atom: int
    invoice_id: str | None = None
    payment_status: str | None = None
    payment_error: str | None = None
    floating_items_created: int = 0


async def preview_items(
    session: AsyncSession,
    account_id: str,
    subscription_id: str,
    item_changes: Sequence[changes.ItemChange],
    *,
    proration_date: datetime | None,
) -> Proration:
    """What the change would credit and charge, nothing written (the API's preview with proposed items)."""
    subscription = await subscriptions.get_subscription(session, account_id, subscription_id)
    new = await changes.proposed_plan(session, subscription, item_changes)
    at = await _instant(session, subscription, proration_date)
    return await preview_plan_change(session, subscription, new, at=at)


async def change_items(
    gateway: Gateway,
    account_id: str,
    subscription_id: str,
    item_changes: Sequence[changes.ItemChange],
    *,
    proration_behavior: str,
    proration_date: datetime | None,
) -> ItemsChanged:
    """Apply a prorated items change (``always_invoice`` or ``create_prorations``); see the module's docstring."""
    if proration_behavior not in (ALWAYS_INVOICE, CREATE_PRORATIONS):
        raise ValueError(f"not a prorating behaviour: {proration_behavior!r}")
    async with gateway.database.writing() as session:
        subscription = await subscriptions.locked_subscription(session, account_id, subscription_id)
        await _refuse_change_in_progress(session, subscription)
        new = await changes.proposed_plan(session, subscription, item_changes)
        now = await now_for(session, subscription)
        at = await _instant(session, subscription, proration_date, now=now)
        proration = await preview_plan_change(session, subscription, new, at=at)
        if proration_behavior == CREATE_PRORATIONS:
            await amend_subscription(session, subscription, new, proration, credit_to_balance=False)
            floating = await invoices.add_pending_items(session, subscription, proration) if proration.lines else []
            await session.commit()
            return ItemsChanged(subscription, proration.net_atom, floating_items_created=len(floating))
        if proration.net_atom <= 0:
            await amend_subscription(session, subscription, new, proration, credit_to_balance=True)
            await session.commit()
            return ItemsChanged(subscription, proration.net_atom)
        invoice = await invoices.create_invoice(
            session,
            account_id,
            customer_id=subscription.customer_id,
            currency=subscription.currency,
            lines=[_line(line) for line in proration.lines],
            billing_reason=SUBSCRIPTION_UPDATE,
            subscription_id=subscription.id,
            issued_at=now,
            description=subscription.description,
            metadata={
                PLAN_CHANGE: {
                    "old": [line.as_dict() for line in current_plan(subscription)],
                    "new": [line.as_dict() for line in new],
                    "proration": proration.as_dict(),
                }
            },
        )
        payment = await off_session.new_invoice_payment(session, invoice, subscription)
        staged = await off_session.begin_charge(session, gateway, payment, now=now)
        invoice_id, payment_id = invoice.id, payment.id
        await session.commit()
    if staged is not None:
        await off_session.make_charge(gateway, staged)
    async with gateway.database.reading() as session:
        payment = await session.get_one(Payment, payment_id)
        error = payment.payment_metadata.get("failure_reason")
        return ItemsChanged(
            await subscriptions.get_subscription(session, account_id, subscription_id),
            proration.net_atom,
            invoice_id=invoice_id,
            payment_status=payment.status,
            payment_error=str(error) if error is not None else None,
        )


def _line(line: ProrationLine) -> invoices.LineSpec:
    """A prorated amount is not a multiple of a unit price: one line of quantity 1 carries it whole."""
    return invoices.LineSpec(
        name=line.description,
        quantity=1,
        unit_amount_atom=line.amount_atom,
        price_id=line.price_id,
        period_start=line.period_start,
        period_end=line.period_end,
        metadata={"proration": True, "quantity": line.quantity},
    )


async def _instant(
    session: AsyncSession, subscription: Subscription, proration_date: datetime | None, *, now: datetime | None = None
) -> datetime:
    """The instant a change is priced at: the quoted ``proration_date`` (never later than now on the subscription's
    clock: a quote honours a price given, not one to come), else now."""
    now = now or await now_for(session, subscription)
    if proration_date is None:
        return now
    if proration_date > now:
        raise InvalidFields.one(("proration_date",), "must not be in the future", "in_future")
    if proration_date < subscription.current_period_start:
        raise InvalidFields.one(("proration_date",), "must be within the current period", "outside_period")
    return proration_date


async def _refuse_change_in_progress(session: AsyncSession, subscription: Subscription) -> None:
    """A plan-change invoice still open is a change being charged: a second one waits for its outcome."""
    open_change = await session.scalar(
        select(Invoice.id).where(
            Invoice.account_id == subscription.account_id,
            Invoice.subscription_id == subscription.id,
            Invoice.billing_reason == SUBSCRIPTION_UPDATE,
            Invoice.status == OPEN,
        )
    )
    if open_change is not None:
        raise Conflict(
            f"A plan change of subscription {subscription.id} is being charged (invoice {open_change}).",
            code="plan_change_in_progress",
        )
