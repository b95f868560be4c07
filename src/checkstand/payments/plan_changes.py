"""Changing a subscription's items with proration, as the API's ``update_subscription_items`` asks.

``create_prorations`` applies the change at once and leaves its proration lines as pending items, which the next
renewal invoice takes. ``always_invoice`` invoices the prorated lines and charges the net now on the saved method,
and applies the change only if that payment succeeds: the invoice carries the change (old plan, new plan, the
proration) in ``Invoice.plan_change`` and the charge's settlement applies it, in the transaction that records the
payment (``payments.settlement``), so a charge that recovery settles after a crash applies it too; a declined charge
voids the invoice and leaves the subscription as it was; a charge that succeeds once the subscription has changed (a
renewal, a cancellation, another change) is refunded in full. The customer's credit balance is used first, as a
renewal invoice uses it: the charge is what is left (a voided invoice gives the credit back), and a balance that
covers the net pays the invoice and applies the change with no processor call. A change that nets a credit charges
nothing: it applies at once and the credit goes to the customer's balance, which the next invoice uses up.

A change may also be scheduled for the period's end (:func:`schedule_items`): nothing is invoiced or charged, and
the renewal bills and applies the new plan. :func:`update_items` picks the way a request asks for.
:func:`preview_change` shows the next invoice as it would be once a proposed change applied, by any of these ways
(:func:`preview_subscription`: as it would be made now when none is proposed).

As every off-session charge, the processor is called with no transaction open: the invoice, its payment and the
pending charge are committed first under the subscription's row lock, which also refuses a second change while one
is being charged (``plan_change_in_progress``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.core.errors import Conflict, InvalidFields
from checkstand.customers import service as customers
from checkstand.invoices import renewal
from checkstand.invoices import service as invoices
from checkstand.invoices.models import OPEN, SUBSCRIPTION_UPDATE, Invoice
from checkstand.payments import off_session, settlement
from checkstand.payments.adapters import Gateway
from checkstand.payments.models import Payment
from checkstand.subscriptions import changes
from checkstand.subscriptions import service as subscriptions
from checkstand.subscriptions.models import Subscription
from checkstand.subscriptions.periods import add_interval
from checkstand.subscriptions.plan_changes import (
    PERIOD_END,
    amend_subscription,
    classify_change,
    current_plan,
    preview_period_end_change,
    preview_plan_change,
    schedule_change,
)
from checkstand.subscriptions.proration import PlanLine, Proration, ProrationLine
from checkstand.subscriptions.timing import now_for

ALWAYS_INVOICE: Final = "always_invoice"
CREATE_PRORATIONS: Final = "create_prorations"


class PlanGuard(Protocol):
    """What a caller checks of a change on the subscription's locked row, in the transaction that applies or charges
    it: raising refuses the change with nothing written (Paid's amendments check that the order is still the one
    previewed)."""

    def locked(self, subscription: Subscription) -> None:
        """As soon as the row is locked, before the change is checked against it."""

    def priced(self, subscription: Subscription, new: Sequence[PlanLine], proration: Proration) -> None:
        """Once the change is priced, before anything is written."""


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


@dataclass(frozen=True)
class SubscriptionPreview:
    """What the SDK's ``preview_subscription`` shows: the subscription, its next renewal invoice, and the proration
    a proposed change would bring (None when no change was proposed)."""

    subscription: Subscription
    invoice: renewal.InvoicePreview
    proration: Proration | None = None


async def preview_subscription(
    session: AsyncSession,
    account_id: str,
    subscription_id: str,
    item_changes: Sequence[changes.ItemChange] | None,
    *,
    proration_behavior: str,
    effective: str,
    proration_date: datetime | None,
) -> SubscriptionPreview:
    """The next renewal invoice as it would be made now, or, with proposed ``item_changes``, as it would be once they
    applied and the proration applying them would bring (:func:`preview_change`); nothing is written."""
    subscription = await subscriptions.get_subscription(session, account_id, subscription_id)
    if item_changes is None:
        return SubscriptionPreview(subscription, await renewal.preview_renewal(session, subscription))
    proration, invoice = await preview_change(
        session,
        account_id,
        subscription_id,
        item_changes,
        proration_behavior=proration_behavior,
        effective=effective,
        proration_date=proration_date,
    )
    return SubscriptionPreview(subscription, invoice, proration)


async def preview_change(
    session: AsyncSession,
    account_id: str,
    subscription_id: str,
    item_changes: Sequence[changes.ItemChange],
    *,
    proration_behavior: str,
    effective: str,
    proration_date: datetime | None,
) -> tuple[Proration, renewal.InvoicePreview]:
    """What a proposed change would credit and charge, and the next renewal invoice once it applied, nothing
    written: at the period's end, the new plan; with ``create_prorations`` its prorations too; with
    ``always_invoice`` the new plan, less the credit a net negative change leaves; with ``none`` the new plan."""
    subscription = await subscriptions.get_subscription(session, account_id, subscription_id)
    new = await changes.proposed_plan(session, subscription, item_changes)
    period_start, period_end = renewal.next_period(subscription)
    if effective == PERIOD_END:
        proration = await preview_period_end_change(session, subscription, new)
        change = renewal.ProposedChange(new, period_start, period_end)
        return proration, await renewal.preview_renewal(session, subscription, change)
    at = await _instant(session, subscription, proration_date)
    proration = await preview_plan_change(session, subscription, new, at=at)
    if proration.next_renewal_at != subscription.current_period_end:
        # An interval change starts a new period at the change's instant: the renewal bills the one after it.
        price = await catalog.get_price(session, account_id, new[0].price_id)
        interval = (price.recurring_interval or subscription.billing_interval, price.recurring_interval_count or 1)
        period_start, period_end = proration.next_renewal_at, add_interval(proration.next_renewal_at, *interval)
    if proration_behavior == CREATE_PRORATIONS:
        change = renewal.ProposedChange(new, period_start, period_end, pending=proration.lines)
    elif proration_behavior == ALWAYS_INVOICE:
        change = renewal.ProposedChange(new, period_start, period_end, credit_atom=max(-proration.net_atom, 0))
    else:
        change = renewal.ProposedChange(new, period_start, period_end)
    return proration, await renewal.preview_renewal(session, subscription, change)


async def schedule_items(
    session: AsyncSession, account_id: str, subscription_id: str, item_changes: Sequence[changes.ItemChange]
) -> Subscription:
    """Schedule the items change for the current period's end (``plan_changes.schedule_change``): nothing is
    invoiced or charged now. Refused while a change is being charged, whose settlement would replace it."""
    subscription = await subscriptions.locked_subscription(session, account_id, subscription_id)
    await _refuse_change_in_progress(session, subscription)
    new = await changes.proposed_plan(session, subscription, item_changes)
    await classify_change(session, subscription, new)
    return await schedule_change(session, subscription, new)


async def update_items(
    session: AsyncSession,
    gateway: Gateway,
    account_id: str,
    subscription_id: str,
    item_changes: Sequence[changes.ItemChange],
    *,
    proration_behavior: str | None,
    proration_date: datetime | None,
    effective: str | None,
) -> ItemsChanged:
    """The SDK's ``update_subscription_items`` in the request's unit of work ``session``: scheduled for the period's
    end (never prorated), applied now with no proration (``none``, the default: it bills from the next invoice), or
    prorated (:func:`change_items`). A prorated change's charge runs in transactions of its own around the processor
    call, so the request's is committed first: it must not stay open across the call."""
    behavior = proration_behavior or changes.PRORATION_NONE
    if effective == PERIOD_END:
        if behavior != changes.PRORATION_NONE or proration_date is not None:
            raise InvalidFields.one(("effective",), "a change at the period's end is not prorated")
        return ItemsChanged(await schedule_items(session, account_id, subscription_id, item_changes), 0)
    if behavior == changes.PRORATION_NONE:
        subscription = await changes.update_items(
            session, account_id, subscription_id, item_changes, proration_date=proration_date
        )
        return ItemsChanged(subscription, 0)
    await session.commit()
    return await change_items(
        gateway, account_id, subscription_id, item_changes, proration_behavior=behavior, proration_date=proration_date
    )


async def change_items(
    gateway: Gateway,
    account_id: str,
    subscription_id: str,
    item_changes: Sequence[changes.ItemChange],
    *,
    proration_behavior: str,
    proration_date: datetime | None,
    guard: PlanGuard | None = None,
) -> ItemsChanged:
    """Apply a prorated items change (``always_invoice`` or ``create_prorations``); see the module's docstring.
    ``guard`` checks the change on the locked row (:class:`PlanGuard`)."""
    if proration_behavior not in (ALWAYS_INVOICE, CREATE_PRORATIONS):
        raise ValueError(f"not a prorating behaviour: {proration_behavior!r}")
    async with gateway.database.writing() as session:
        subscription = await subscriptions.locked_subscription(session, account_id, subscription_id)
        await _refuse_change_in_progress(session, subscription)
        if guard is not None:
            guard.locked(subscription)
        new = await changes.proposed_plan(session, subscription, item_changes)
        await classify_change(session, subscription, new)
        now = await now_for(session, subscription)
        at = await _instant(session, subscription, proration_date, now=now)
        proration = await preview_plan_change(session, subscription, new, at=at)
        if guard is not None:
            guard.priced(subscription, new, proration)
        if proration_behavior == CREATE_PRORATIONS:
            await amend_subscription(session, subscription, new, proration, credit_to_balance=False)
            floating = await renewal.add_pending_items(session, subscription, proration) if proration.lines else []
            await session.commit()
            return ItemsChanged(subscription, proration.net_atom, floating_items_created=len(floating))
        if proration.net_atom <= 0:
            await amend_subscription(session, subscription, new, proration, credit_to_balance=True)
            await session.commit()
            return ItemsChanged(subscription, proration.net_atom)
        lines = [_line(line) for line in proration.lines]
        credit = await customers.use_credit(session, subscription.customer, subscription.currency, proration.net_atom)
        if credit:
            lines.append(_credit_line(credit))
        invoice = await invoices.create_invoice(
            session,
            account_id,
            customer_id=subscription.customer_id,
            currency=subscription.currency,
            lines=lines,
            billing_reason=SUBSCRIPTION_UPDATE,
            subscription_id=subscription.id,
            issued_at=now,
            description=subscription.description,
        )
        invoice.plan_change = {
            "old": [line.as_dict() for line in current_plan(subscription)],
            "new": [line.as_dict() for line in new],
            "proration": proration.as_dict(),
        }
        if invoice.total_atom == 0:
            # The credit balance paid it all: the invoice is paid and the change applies now, with no payment (so
            # no payment status) and no processor call.
            await settlement.invoice_paid(session, invoice, amount_atom=0, now=now)
            invoice_id = invoice.id
            await session.commit()
            return ItemsChanged(subscription, proration.net_atom, invoice_id=invoice_id)
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


def _credit_line(used_atom: int) -> invoices.LineSpec:
    """The customer's credit balance taken off the change's invoice, as a renewal invoice shows it; a voided
    invoice gives it back (``payments.settlement``)."""
    return invoices.LineSpec(
        name=invoices.CREDIT_APPLIED, quantity=1, unit_amount_atom=-used_atom, metadata={invoices.CREDIT_BALANCE: True}
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


async def change_being_charged(session: AsyncSession, subscription: Subscription) -> str | None:
    """The invoice of a plan change of the subscription still being charged (open), if there is one."""
    return await session.scalar(
        select(Invoice.id).where(
            Invoice.account_id == subscription.account_id,
            Invoice.subscription_id == subscription.id,
            Invoice.billing_reason == SUBSCRIPTION_UPDATE,
            Invoice.status == OPEN,
        )
    )


async def _refuse_change_in_progress(session: AsyncSession, subscription: Subscription) -> None:
    """A plan-change invoice still open is a change being charged: a second one waits for its outcome."""
    open_change = await change_being_charged(session, subscription)
    if open_change is not None:
        raise Conflict(
            f"A plan change of subscription {subscription.id} is being charged (invoice {open_change}).",
            code="plan_change_in_progress",
        )
