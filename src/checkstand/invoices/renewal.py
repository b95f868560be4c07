"""A subscription's renewal invoice: its lines (the items as sold, or the plan a change scheduled for the period's
end, in advance; the metered items' usage of the period just ended, in arrears), the coupon's discount by its terms,
the pending items a plan change left (prorations), and the customer's credit balance used before anything is
charged; and the same invoice previewed, nothing stored, as it would be made now or once a proposed plan change
applied. A subscription billing usage that ends at its period's end leaves a final invoice of that usage.

It is made with :func:`checkstand.invoices.service.create_invoice`, whose uniqueness per subscription and period makes
a second invoice for a period fail (``IntegrityError``), however many workers race to bill it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core.errors import BusinessRuleViolation
from checkstand.core.ids import new_id
from checkstand.customers import service as customers
from checkstand.discounts import maths
from checkstand.discounts.models import Coupon
from checkstand.invoices.models import SUBSCRIPTION_CYCLE, Invoice, PendingInvoiceItem
from checkstand.invoices.service import CREDIT_APPLIED, CREDIT_BALANCE, LineSpec, create_invoice, sold_line
from checkstand.subscriptions import discount_terms, lifecycle
from checkstand.subscriptions.models import Subscription
from checkstand.subscriptions.periods import next_period_end
from checkstand.subscriptions.plan_changes import current_plan, scheduled_plan
from checkstand.subscriptions.price_migrations import migrated, price_moves
from checkstand.subscriptions.proration import PlanLine, Proration, ProrationLine
from checkstand.usage import service as usage

PENDING_PREFIX: Final = "ii"
CREDIT_CARRIED: Final = "Credit carried to the customer's balance"


@dataclass(frozen=True)
class PreviewLine:
    """A preview's line as the SDK's ``InvoicePreviewLineItem`` shows it: every line has a period (a credit balance
    line, which has none of its own, shows the invoice's) and recurs at the subscription's billing interval."""

    product_name: str
    quantity: int
    unit_amount_atom: int
    amount_atom: int
    currency: str
    period_start: datetime
    period_end: datetime
    recurring_interval: str
    recurring_interval_count: int
    price_id: str | None


@dataclass(frozen=True)
class InvoicePreview:
    """The next renewal invoice as it would be made now (the SDK's ``InvoicePreview``); never stored."""

    lines: tuple[LineSpec, ...]
    currency: str
    subtotal_atom: int
    discount_atom: int
    total_atom: int
    period_start: datetime
    period_end: datetime
    due_date: datetime
    billing_interval: str
    billing_interval_count: int

    @property
    def line_items(self) -> tuple[PreviewLine, ...]:
        return tuple(
            PreviewLine(
                product_name=line.name,
                quantity=line.quantity,
                unit_amount_atom=line.unit_amount_atom,
                amount_atom=line.amount_atom,
                currency=self.currency,
                period_start=line.period_start or self.period_start,
                period_end=line.period_end or self.period_end,
                recurring_interval=self.billing_interval,
                recurring_interval_count=self.billing_interval_count,
                price_id=line.price_id,
            )
            for line in self.lines
        )


@dataclass(frozen=True)
class ProposedChange:
    """A plan change a preview shows as applied: the plan the renewal would bill and its period (an interval change
    starts another), the proration lines it would leave pending, and the credit it would add to the customer's
    balance."""

    plan: Sequence[PlanLine]
    period_start: datetime
    period_end: datetime
    pending: Sequence[ProrationLine] = ()
    credit_atom: int = 0


def renewal_lines(
    subscription: Subscription,
    period_start: datetime,
    period_end: datetime,
    plan: Sequence[PlanLine] | None = None,
) -> tuple[LineSpec, ...]:
    """The subscription's items for a period, at the amounts they were sold at (each price's scheme for its
    quantity); ``plan`` instead when given, else the plan a change scheduled for the period's end starts, when there
    is one (the renewal bills it). A line on a price a bulk migration moves its item from bills the new price."""
    plan = plan if plan is not None else scheduled_plan(subscription)
    moves = price_moves(subscription)
    if plan is not None:
        return tuple(_line(migrated(line, moves), None, period_start, period_end) for line in plan)
    return tuple(
        _line(migrated(line, moves), item.description, period_start, period_end)
        for item, line in zip(subscription.items, current_plan(subscription), strict=True)
    )


def _line(line: PlanLine, description: str | None, period_start: datetime, period_end: datetime) -> LineSpec:
    return sold_line(
        line.product_name,
        line.quantity,
        line.unit_amount_atom,
        line.amount_atom,
        price_id=line.price_id,
        product_id=line.product_id,
        description=description,
        period_start=period_start,
        period_end=period_end,
    )


def renewal_discount(subscription: Subscription, lines: Sequence[LineSpec], period_start: datetime) -> int:
    """What the subscription's coupon takes off a renewal starting at ``period_start``, by its terms as sold:
    ``forever`` always; ``repeating`` for periods starting within ``duration_in_months`` of the subscription's
    start; ``once`` only on the first charge after a trial (otherwise the checkout used it up)."""
    terms = subscription.discount
    if terms is None or not lines or not discount_terms.discounts_period(subscription, period_start):
        return 0
    coupon = Coupon(**terms)
    priced = [maths.Line(line.amount_atom, line.product_id) for line in lines]
    try:
        return maths.compute_discount(coupon, priced, subscription.currency).amount_atom
    except BusinessRuleViolation:
        # Restricted to products the subscription no longer sells, or in another currency: nothing off.
        return 0


def next_period(subscription: Subscription) -> tuple[datetime, datetime]:
    """The period billed next: a trial's first paid period (the current one), else the one after the current one,
    anchored to the subscription's first day."""
    if lifecycle.converts_trial(subscription):
        return subscription.current_period_start, subscription.current_period_end
    anchor = subscription.billing_anchor or subscription.current_period_start
    start = subscription.current_period_end
    end = next_period_end(anchor, subscription.billing_interval, subscription.billing_interval_count, start)
    return start, end


async def build_renewal_invoice(
    session: AsyncSession,
    subscription: Subscription,
    period_start: datetime,
    period_end: datetime,
    *,
    issued_at: datetime | None = None,
) -> Invoice:
    """The renewal invoice of ``subscription`` for a period, issued at ``issued_at`` (by default the period's start:
    the moment it falls due, on the customer's clock; dunning retries count from it). It takes the subscription's
    pending items (prorations a plan change left) as lines, and uses up the customer's credit balance before
    anything is charged. A period already invoiced raises ``IntegrityError``."""
    return await _invoice_period(session, subscription, period_start, period_end, issued_at or period_start)


async def build_final_invoice(session: AsyncSession, subscription: Subscription, *, issued_at: datetime) -> Invoice:
    """The invoice a subscription billing usage in arrears leaves as it ends at its period's end: its last period's
    usage and its pending items, nothing in advance. It takes the place of the period that never comes (whose start
    the period's end is), so it is made once, as a renewal invoice is."""
    end = subscription.current_period_end
    return await _invoice_period(session, subscription, end, end, issued_at, plan=())


async def _invoice_period(
    session: AsyncSession,
    subscription: Subscription,
    period_start: datetime,
    period_end: datetime,
    issued_at: datetime,
    plan: Sequence[PlanLine] | None = None,
) -> Invoice:
    """The cycle invoice of a period: its lines priced, the pending items it takes marked as invoiced."""
    pending = await pending_items(session, subscription)
    priced = await _renewal(session, subscription, period_start, period_end, pending, use_credit=True, plan=plan)
    invoice = await create_invoice(
        session,
        subscription.account_id,
        customer_id=subscription.customer_id,
        currency=subscription.currency,
        lines=priced.lines,
        discount_atom=priced.discount_atom,
        billing_reason=SUBSCRIPTION_CYCLE,
        subscription_id=subscription.id,
        period_start=period_start,
        period_end=period_end,
        issued_at=issued_at,
        description=subscription.description,
    )
    for item in pending:
        item.invoice_id = invoice.id
    await session.flush()
    return invoice


async def preview_renewal(
    session: AsyncSession, subscription: Subscription, change: ProposedChange | None = None
) -> InvoicePreview:
    """The next renewal invoice as it would be made (nothing stored): its pending items and the customer's credit
    balance included; with ``change``, as it would be once that change applied."""
    period_start, period_end = next_period(subscription)
    pending = await pending_items(session, subscription)
    if change is None:
        priced = await _renewal(session, subscription, period_start, period_end, pending, use_credit=False)
    else:
        period_start, period_end = change.period_start, change.period_end
        priced = await _renewal(
            session,
            subscription,
            period_start,
            period_end,
            pending,
            use_credit=False,
            plan=change.plan,
            proposed=tuple(_proration_line(line) for line in change.pending),
            proposed_credit_atom=change.credit_atom,
        )
    subtotal = sum(line.amount_atom for line in priced.lines)
    return InvoicePreview(
        lines=priced.lines,
        currency=subscription.currency,
        subtotal_atom=subtotal,
        discount_atom=priced.discount_atom,
        total_atom=subtotal - priced.discount_atom,
        period_start=period_start,
        period_end=period_end,
        due_date=period_start,
        billing_interval=subscription.billing_interval,
        billing_interval_count=subscription.billing_interval_count,
    )


@dataclass(frozen=True)
class _PricedRenewal:
    lines: tuple[LineSpec, ...]
    discount_atom: int


async def _renewal(
    session: AsyncSession,
    subscription: Subscription,
    period_start: datetime,
    period_end: datetime,
    pending: Sequence[PendingInvoiceItem],
    *,
    use_credit: bool,
    plan: Sequence[PlanLine] | None = None,
    proposed: Sequence[LineSpec] = (),
    proposed_credit_atom: int = 0,
) -> _PricedRenewal:
    """A renewal's lines: the items, the pending prorations, then the credit balance applied (a line taking off up
    to what is due) or, when the credits exceed what is due, a line carrying the rest back to the balance so the
    total is never negative. The coupon discounts the items only, never a proration. With ``use_credit`` the
    balance is moved (the invoice is being made), otherwise only read (a preview). A preview of a proposed change
    bills its ``plan``, with its ``proposed`` prorations and ``proposed_credit_atom`` added to the balance. Metered
    items bill the usage of the period ending as this one starts, in arrears (:func:`usage_lines`)."""
    metered = {item.price_id for item in subscription.items if usage.is_metered(item)}
    licensed = (
        line for line in renewal_lines(subscription, period_start, period_end, plan) if line.price_id not in metered
    )
    items = (*licensed, *await usage_lines(session, subscription, period_start))
    floating = (*(_pending_line(item) for item in pending), *proposed)
    subtotal = sum(line.amount_atom for line in (*items, *floating))
    discount = min(renewal_discount(subscription, items, period_start), max(subtotal, 0))
    due = subtotal - discount
    customer = subscription.customer
    if due < 0:
        if use_credit:
            await customers.add_credit(session, customer, -due, subscription.currency)
        balance = LineSpec(name=CREDIT_CARRIED, quantity=1, unit_amount_atom=-due, metadata={CREDIT_BALANCE: True})
        return _PricedRenewal((*items, *floating, balance), discount)
    available = customers.available_credit(customer, subscription.currency) + proposed_credit_atom
    used = (
        await customers.use_credit(session, customer, subscription.currency, due) if use_credit else min(available, due)
    )
    if used == 0:
        return _PricedRenewal((*items, *floating), discount)
    applied = LineSpec(name=CREDIT_APPLIED, quantity=1, unit_amount_atom=-used, metadata={CREDIT_BALANCE: True})
    return _PricedRenewal((*items, *floating, applied), discount)


async def usage_lines(
    session: AsyncSession, subscription: Subscription, period_start: datetime
) -> tuple[LineSpec, ...]:
    """What the subscription's metered items bill on the invoice of the period starting at ``period_start``: the
    usage from the current period's start to then (:mod:`checkstand.usage.service`), each line priced by its price's
    scheme on the aggregated quantity. A trial's conversion invoice starts the current period, so the trial's usage
    is never billed (its lines say 0)."""
    start = subscription.current_period_start
    end = max(period_start, start)
    return tuple(
        sold_line(
            used.item.product_name,
            used.quantity,
            used.price.unit_amount_atom,
            used.amount_atom,
            price_id=used.price.id,
            product_id=used.price.product_id,
            description=used.item.description,
            period_start=start,
            period_end=end,
            metadata={"metered_id": used.metered_id, "usage_aggregation": used.price.usage_aggregation},
        )
        for used in await usage.period_usage(session, subscription, start, end)
    )


def _proration_line(line: ProrationLine) -> LineSpec:
    """A proration a proposed change would leave pending, as :func:`_pending_line` bills it."""
    return LineSpec(
        name=line.description,
        quantity=1,
        unit_amount_atom=line.amount_atom,
        price_id=line.price_id,
        period_start=line.period_start,
        period_end=line.period_end,
        metadata={"proration": True, "quantity": line.quantity},
    )


def _pending_line(item: PendingInvoiceItem) -> LineSpec:
    """A proration's amount is not a multiple of a unit price: one line of quantity 1 carries it whole."""
    return LineSpec(
        name=item.name,
        quantity=1,
        unit_amount_atom=item.amount_atom,
        price_id=item.price_id,
        description=item.description,
        period_start=item.period_start,
        period_end=item.period_end,
        metadata={"proration": True, "quantity": item.quantity},
    )


async def pending_items(session: AsyncSession, subscription: Subscription) -> list[PendingInvoiceItem]:
    """The subscription's floating items no invoice has taken yet, oldest first."""
    rows = await session.scalars(
        select(PendingInvoiceItem)
        .where(
            PendingInvoiceItem.account_id == subscription.account_id,
            PendingInvoiceItem.subscription_id == subscription.id,
            PendingInvoiceItem.invoice_id.is_(None),
        )
        .order_by(PendingInvoiceItem.created_at, PendingInvoiceItem.id)
    )
    return list(rows)


async def add_pending_items(
    session: AsyncSession, subscription: Subscription, proration: Proration
) -> list[PendingInvoiceItem]:
    """Leave a plan change's proration lines for the next renewal invoice (``create_prorations``)."""
    items = [
        PendingInvoiceItem(
            id=new_id(PENDING_PREFIX),
            account_id=subscription.account_id,
            customer_id=subscription.customer_id,
            subscription_id=subscription.id,
            name=line.description,
            description=None,
            price_id=line.price_id,
            quantity=line.quantity,
            amount_atom=line.amount_atom,
            currency=subscription.currency,
            period_start=line.period_start,
            period_end=line.period_end,
        )
        for line in proration.lines
    ]
    session.add_all(items)
    await session.flush()
    return items
