"""Invoices: made from line specs, numbered per account, read and listed, and moved through the SDK's states with an
event for each move. Renewal invoices are built from the subscription's items as sold and its discount's terms.

Numbers are given under the account row's lock, so two invoices made side by side never take the same number; a
renewal invoice is unique per subscription and period in the database, so a second one for a period fails with
``IntegrityError`` in the caller's transaction (whoever races to bill a period, one invoice survives).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts.models import Account
from checkstand.core import money
from checkstand.core.errors import BusinessRuleViolation, Conflict, InvalidFields
from checkstand.core.ids import new_id
from checkstand.core.listing import ListParams, ListSpec, apply_list_params
from checkstand.core.lookup import locked, one_or_not_found
from checkstand.core.pagination import Page, paginate
from checkstand.customers import service as customers
from checkstand.discounts import maths
from checkstand.discounts.models import Coupon
from checkstand.events.service import record_event, snapshot
from checkstand.invoices.models import (
    OPEN,
    PAID,
    PAST_DUE,
    STATES,
    SUBSCRIPTION_CYCLE,
    UNCOLLECTIBLE,
    VOID,
    Invoice,
    InvoiceLine,
    PendingInvoiceItem,
)
from checkstand.subscriptions import lifecycle
from checkstand.subscriptions.models import Subscription
from checkstand.subscriptions.periods import add_months, next_period_end
from checkstand.subscriptions.proration import Proration

INVOICE_PREFIX: Final = "inv"
LINE_PREFIX: Final = "il"
PENDING_PREFIX: Final = "ii"
CREDIT_APPLIED: Final = "Credit balance applied"
CREDIT_CARRIED: Final = "Credit carried to the customer's balance"
# Discount durations, as coupons declare them.
ONCE: Final = "once"
REPEATING: Final = "repeating"
FOREVER: Final = "forever"

LIST_SPEC: Final = ListSpec(
    filterable={
        "customer_id": Invoice.customer_id,
        "subscription_id": Invoice.subscription_id,
        "status": Invoice.status,
        "billing_reason": Invoice.billing_reason,
        "currency": Invoice.currency,
        "invoice_number": Invoice.number,
    },
    sortable={
        "created_at": Invoice.created_at,
        "issued_at": Invoice.issued_at,
        "due_date": Invoice.due_date,
        "total_amount_atom": Invoice.total_atom,
    },
    searchable=(Invoice.id, Invoice.description),
    created_at=Invoice.created_at,
    tiebreak=Invoice.id,
)


@dataclass(frozen=True)
class LineSpec:
    """One line to bill: ``quantity`` times ``unit_amount_atom``, minus its share of the invoice's discount."""

    name: str
    quantity: int
    unit_amount_atom: int
    price_id: str | None = None
    product_id: str | None = None
    description: str | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def amount_atom(self) -> int:
        return self.quantity * self.unit_amount_atom


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


# --- Making -------------------------------------------------------------------------------------------------------


async def create_invoice(
    session: AsyncSession,
    account_id: str,
    *,
    customer_id: str,
    currency: str,
    lines: Sequence[LineSpec],
    billing_reason: str,
    issued_at: datetime,
    discount_atom: int = 0,
    status: str = OPEN,
    subscription_id: str | None = None,
    checkout_session_id: str | None = None,
    period_start: datetime | None = None,
    period_end: datetime | None = None,
    due_date: datetime | None = None,
    description: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Invoice:
    """A new invoice numbered next in its account; records ``invoice.created``. ``discount_atom`` is shared among
    the lines in proportion to their amounts. A renewal invoice for a period already billed raises
    ``IntegrityError`` at the flush; the caller decides what that means (another worker has the period)."""
    if not lines:
        raise InvalidFields.one(("lines",), "an invoice needs at least one line", "missing")
    subtotal = sum(line.amount_atom for line in lines)
    if subtotal > money.max_amount_atom(currency):
        raise InvalidFields.one(("lines",), f"the total must be {money.amount_limit(currency)}")
    if not 0 <= discount_atom <= subtotal:
        raise ValueError("an invoice's discount lies between 0 and its subtotal")
    await session.execute(select(Account.id).where(Account.id == account_id).with_for_update())
    number = int(await session.scalar(select(func.max(Invoice.number)).where(Invoice.account_id == account_id)) or 0)
    invoice = Invoice(
        id=new_id(INVOICE_PREFIX),
        account_id=account_id,
        customer_id=customer_id,
        subscription_id=subscription_id,
        checkout_session_id=checkout_session_id,
        number=number + 1,
        status=status,
        billing_reason=billing_reason,
        currency=currency.lower(),
        subtotal_atom=subtotal,
        discount_atom=discount_atom,
        tax_atom=0,
        total_atom=subtotal - discount_atom,
        paid_atom=0,
        period_start=period_start,
        period_end=period_end,
        issued_at=issued_at,
        due_date=due_date or issued_at,
        attempt_count=0,
        description=description,
        invoice_metadata=dict(metadata or {}),
        lines=[
            InvoiceLine(
                id=new_id(LINE_PREFIX),
                account_id=account_id,
                position=position,
                name=line.name,
                description=line.description,
                price_id=line.price_id,
                quantity=line.quantity,
                unit_amount_atom=line.unit_amount_atom,
                amount_atom=line.amount_atom,
                period_start=line.period_start,
                period_end=line.period_end,
                line_metadata=dict(line.metadata),
            )
            for position, line in enumerate(lines)
        ],
    )
    session.add(invoice)
    await session.flush()
    await record_event(session, account_id=account_id, type="invoice.created", obj=invoice)
    return invoice


def renewal_lines(subscription: Subscription, period_start: datetime, period_end: datetime) -> tuple[LineSpec, ...]:
    """The subscription's items for a period, at the unit amounts they were sold at."""
    return tuple(
        LineSpec(
            name=item.product_name,
            quantity=item.quantity,
            unit_amount_atom=item.unit_amount_atom,
            price_id=item.price_id,
            product_id=item.product_id,
            description=item.description,
            period_start=period_start,
            period_end=period_end,
        )
        for item in subscription.items
    )


def renewal_discount(subscription: Subscription, lines: Sequence[LineSpec], period_start: datetime) -> int:
    """What the subscription's coupon takes off a renewal starting at ``period_start``, by its terms as sold:
    ``forever`` always; ``repeating`` for periods starting within ``duration_in_months`` of the subscription's
    start; ``once`` only on the first charge after a trial (otherwise the checkout used it up)."""
    terms = subscription.discount
    if terms is None or not lines:
        return 0
    duration = terms.get("duration") or ONCE
    if duration == ONCE and period_start != subscription.trial_end:
        return 0
    if duration == REPEATING:
        started = subscription.trial_start or subscription.billing_anchor or subscription.current_period_start
        if period_start >= add_months(started, int(terms.get("duration_in_months") or 0)):
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
    pending = await pending_items(session, subscription)
    priced = await _renewal(session, subscription, period_start, period_end, pending, use_credit=True)
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
        issued_at=issued_at or period_start,
        description=subscription.description,
    )
    for item in pending:
        item.invoice_id = invoice.id
    await session.flush()
    return invoice


async def preview_renewal(session: AsyncSession, subscription: Subscription) -> InvoicePreview:
    """The next renewal invoice as it would be made (nothing stored): its pending items and the customer's credit
    balance included."""
    period_start, period_end = next_period(subscription)
    pending = await pending_items(session, subscription)
    priced = await _renewal(session, subscription, period_start, period_end, pending, use_credit=False)
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
) -> _PricedRenewal:
    """A renewal's lines: the items, the pending prorations, then the credit balance applied (a line taking off up
    to what is due) or, when the credits exceed what is due, a line carrying the rest back to the balance so the
    total is never negative. The coupon discounts the items only, never a proration. With ``use_credit`` the
    balance is moved (the invoice is being made), otherwise only read (a preview)."""
    items = renewal_lines(subscription, period_start, period_end)
    floating = tuple(_pending_line(item) for item in pending)
    subtotal = sum(line.amount_atom for line in (*items, *floating))
    discount = min(renewal_discount(subscription, items, period_start), max(subtotal, 0))
    due = subtotal - discount
    customer = subscription.customer
    if due < 0:
        if use_credit:
            await customers.add_credit(session, customer, -due, subscription.currency)
        balance = LineSpec(name=CREDIT_CARRIED, quantity=1, unit_amount_atom=-due, metadata={"credit_balance": True})
        return _PricedRenewal((*items, *floating, balance), discount)
    available = customers.available_credit(customer, subscription.currency)
    used = (
        await customers.use_credit(session, customer, subscription.currency, due) if use_credit else min(available, due)
    )
    if used == 0:
        return _PricedRenewal((*items, *floating), discount)
    applied = LineSpec(name=CREDIT_APPLIED, quantity=1, unit_amount_atom=-used, metadata={"credit_balance": True})
    return _PricedRenewal((*items, *floating, applied), discount)


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


# --- Reading ------------------------------------------------------------------------------------------------------


def _invoices(account_id: str) -> Select[Invoice]:
    return select(Invoice).where(Invoice.account_id == account_id)


async def get_invoice(session: AsyncSession, account_id: str, invoice_id: str) -> Invoice:
    return await one_or_not_found(session, _invoices(account_id).where(Invoice.id == invoice_id), "invoice", invoice_id)


async def lock_invoice(session: AsyncSession, account_id: str, invoice_id: str) -> Invoice:
    """The invoice with its row locked and re-read, so concurrent settlements see each other's result."""
    return await one_or_not_found(
        session, locked(_invoices(account_id).where(Invoice.id == invoice_id)), "invoice", invoice_id
    )


async def list_invoices(
    session: AsyncSession,
    account_id: str,
    params: ListParams,
    *,
    customer_id: str | None = None,
    subscription_id: str | None = None,
    status: str | None = None,
) -> Page[Invoice]:
    """Newest first; the keyword filters are the SDK's own query parameters."""
    if status is not None and status not in STATES:
        raise InvalidFields.one(("status",), f"must be one of {', '.join(STATES)}")
    query = _invoices(account_id)
    for column, value in (
        (Invoice.customer_id, customer_id),
        (Invoice.subscription_id, subscription_id),
        (Invoice.status, status),
    ):
        if value is not None:
            query = query.where(column == value)
    return await paginate(session, apply_list_params(query, LIST_SPEC, params), params.page)


# --- Changing -----------------------------------------------------------------------------------------------------

SETTLED: Final = frozenset({PAID, VOID, UNCOLLECTIBLE})


def _require_unsettled(invoice: Invoice) -> None:
    if invoice.status in SETTLED:
        raise Conflict(f"Invoice {invoice.id} is already {invoice.status}.", code=f"invoice_{invoice.status}")


async def mark_paid(session: AsyncSession, invoice: Invoice, *, paid_at: datetime, amount_atom: int) -> Invoice:
    """``amount_atom`` received settles the invoice; records ``invoice.paid``. An invoice already paid stays as it
    was (a settlement reported twice); a voided one is a conflict, while an uncollectible one may still be paid (as
    Stripe allows: the money says it is paid)."""
    if invoice.status == PAID:
        return invoice
    if invoice.status == VOID:
        raise Conflict(f"Invoice {invoice.id} is void.", code="invoice_void")
    before = snapshot(invoice)
    invoice.status = PAID
    invoice.paid_atom = min(invoice.paid_atom + amount_atom, invoice.total_atom)
    invoice.paid_at = paid_at
    invoice.next_attempt_at = None
    await session.flush()
    await record_event(session, account_id=invoice.account_id, type="invoice.paid", obj=invoice, before=before)
    return invoice


async def mark_payment_failed(session: AsyncSession, invoice: Invoice, *, next_attempt_at: datetime | None) -> Invoice:
    """A collection attempt failed: the invoice is past due, counts the attempt and waits for ``next_attempt_at``
    (None: no retry is scheduled); records ``invoice.payment_failed``."""
    _require_unsettled(invoice)
    before = snapshot(invoice)
    invoice.status = PAST_DUE
    invoice.attempt_count += 1
    invoice.next_attempt_at = next_attempt_at
    await session.flush()
    await record_event(
        session, account_id=invoice.account_id, type="invoice.payment_failed", obj=invoice, before=before
    )
    return invoice


async def hold_for_retry(session: AsyncSession, invoice: Invoice) -> None:
    """A retry is being made: it is no longer due, so no other worker starts a second one meanwhile."""
    invoice.next_attempt_at = None
    await session.flush()


async def mark_uncollectible(session: AsyncSession, invoice: Invoice) -> Invoice:
    """Given up on after the last retry; records ``invoice.marked_uncollectible``."""
    _require_unsettled(invoice)
    before = snapshot(invoice)
    invoice.status = UNCOLLECTIBLE
    invoice.next_attempt_at = None
    await session.flush()
    await record_event(
        session, account_id=invoice.account_id, type="invoice.marked_uncollectible", obj=invoice, before=before
    )
    return invoice


async def void(session: AsyncSession, invoice: Invoice) -> Invoice:
    """Nothing is owed on it any more (a paused subscription's period, Stripe's ``pause_collection: void``);
    records ``invoice.voided``."""
    _require_unsettled(invoice)
    before = snapshot(invoice)
    invoice.status = VOID
    invoice.next_attempt_at = None
    await session.flush()
    await record_event(session, account_id=invoice.account_id, type="invoice.voided", obj=invoice, before=before)
    return invoice
