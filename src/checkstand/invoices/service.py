"""Invoices: made from line specs, numbered per account, read and listed, and moved through the SDK's states with an
event for each move. A renewal's invoice (its lines, discount, credit and preview) is built in :mod:`.renewal`.

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
from checkstand.core.errors import Conflict, InvalidFields
from checkstand.core.ids import new_id
from checkstand.core.listing import ListParams, ListSpec, apply_list_params
from checkstand.core.lookup import locked, one_or_not_found
from checkstand.core.pagination import Page, paginate
from checkstand.events.service import record_event, snapshot
from checkstand.invoices.models import (
    OPEN,
    PAID,
    PAST_DUE,
    STATES,
    UNCOLLECTIBLE,
    VOID,
    Invoice,
    InvoiceLine,
)

INVOICE_PREFIX: Final = "inv"
LINE_PREFIX: Final = "il"
# A line that moved the customer's credit balance (a renewal's, a plan change's) is named so and marked with this
# metadata key, which a voided invoice's settlement reads to give the credit back.
CREDIT_APPLIED: Final = "Credit balance applied"
CREDIT_BALANCE: Final = "credit_balance"


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
    """One line to bill: ``quantity`` times ``unit_amount_atom``, or ``priced_atom`` when the price's scheme
    prices the quantity as a whole (tiered, package, metered: :func:`checkstand.catalog.pricing.amount_for`), minus
    its share of the invoice's discount."""

    name: str
    quantity: int
    unit_amount_atom: int
    price_id: str | None = None
    product_id: str | None = None
    description: str | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    priced_atom: int | None = None

    @property
    def amount_atom(self) -> int:
        return self.quantity * self.unit_amount_atom if self.priced_atom is None else self.priced_atom


def sold_line(name: str, quantity: int, unit_amount_atom: int, amount_atom: int, **fields: Any) -> LineSpec:
    """The line billing ``amount_atom`` for ``quantity`` of a price whose unit amount is ``unit_amount_atom``. A
    tiered or package price's amount is not its unit amount times the quantity, and no one amount per unit is true of
    it (an average is what nobody is charged per unit): such a line says 0 as its unit amount and carries the whole
    in ``priced_atom``, as Stripe leaves a tiered line's unit amount out; its price (``price_id``) tells how the
    amount was reached."""
    if amount_atom == unit_amount_atom * quantity:
        return LineSpec(name=name, quantity=quantity, unit_amount_atom=unit_amount_atom, **fields)
    return LineSpec(name=name, quantity=quantity, unit_amount_atom=0, priced_atom=amount_atom, **fields)


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
    # FOR NO KEY UPDATE (on PostgreSQL): it serialises numbering as FOR UPDATE would, but leaves alone the key-share
    # locks every insert of a row naming the account takes, so a transaction that has written such a row and then
    # waits for a lock this one holds (a subscription's) is no deadlock.
    await session.execute(select(Account.id).where(Account.id == account_id).with_for_update(key_share=True))
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
