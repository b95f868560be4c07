"""Invoices and their lines: what a customer owes for a period, or for a checkout, in minor units.

Every checkout payment and every renewal has one. A renewal invoice is unique per subscription and period (the
database refuses a second), which is what makes a period billed once whatever races to bill it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Final

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from checkstand.db import Base, TimestampedMixin

# The SDK's ``InvoiceState``: draft -> open -> paid | past_due -> paid | void | uncollectible.
DRAFT: Final = "draft"
OPEN: Final = "open"
PAID: Final = "paid"
PAST_DUE: Final = "past_due"
VOID: Final = "void"
UNCOLLECTIBLE: Final = "uncollectible"
STATES: Final = (DRAFT, OPEN, "partially_paid", PAID, PAST_DUE, VOID, UNCOLLECTIBLE)

# The SDK's ``BillingReason``.
MANUAL: Final = "manual"
SUBSCRIPTION_CREATE: Final = "subscription_create"
SUBSCRIPTION_CYCLE: Final = "subscription_cycle"
SUBSCRIPTION_UPDATE: Final = "subscription_update"


class Invoice(TimestampedMixin, Base):
    """``attempt_count`` and ``next_attempt_at`` are the dunning schedule's state for an unpaid renewal."""

    __tablename__ = "invoices"
    __table_args__ = (
        # A renewal is billed once per subscription and period; checkout and manual invoices have no period key.
        UniqueConstraint("subscription_id", "billing_reason", "period_start"),
        UniqueConstraint("account_id", "number"),
        Index("ix_invoices_account_created", "account_id", "created_at"),
        Index("ix_invoices_account_customer", "account_id", "customer_id"),
        Index("ix_invoices_status_next_attempt", "status", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    subscription_id: Mapped[str | None] = mapped_column(ForeignKey("subscriptions.id"))
    checkout_session_id: Mapped[str | None] = mapped_column(ForeignKey("checkout_sessions.id"))
    # Per account, from 1, in the order invoices are made.
    number: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    billing_reason: Mapped[str] = mapped_column(String(32))
    collection_method: Mapped[str] = mapped_column(String(32), default="charge_automatically")
    currency: Mapped[str] = mapped_column(String(3))
    subtotal_atom: Mapped[int] = mapped_column(BigInteger)
    discount_atom: Mapped[int] = mapped_column(BigInteger, default=0)
    tax_atom: Mapped[int] = mapped_column(BigInteger, default=0)
    total_atom: Mapped[int] = mapped_column(BigInteger)
    paid_atom: Mapped[int] = mapped_column(BigInteger, default=0)
    period_start: Mapped[datetime | None]
    period_end: Mapped[datetime | None]
    issued_at: Mapped[datetime]
    due_date: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    attempt_count: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    description: Mapped[str | None] = mapped_column(String(500))
    invoice_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    # A plan-change invoice's change (old plan, new plan, proration; then whether it applied and the refund made
    # when it could not): the system's own record, kept out of the merchant-editable metadata and off the wire.
    plan_change: Mapped[dict[str, Any] | None] = mapped_column(default=None)

    lines: Mapped[list[InvoiceLine]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="InvoiceLine.position"
    )

    aggregate_type: ClassVar[str] = "invoice"

    @property
    def remaining_atom(self) -> int:
        return max(self.total_atom - self.paid_atom, 0)

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account_id": self.account_id,
            "customer_id": self.customer_id,
            "subscription_id": self.subscription_id,
            "checkout_session_id": self.checkout_session_id,
            "invoice_number": self.number,
            "status": self.status,
            "billing_reason": self.billing_reason,
            "collection_method": self.collection_method,
            "currency": self.currency,
            "subtotal_amount_atom": self.subtotal_atom,
            "discount_amount_atom": self.discount_atom,
            "tax_amount_atom": self.tax_atom,
            "total_amount_atom": self.total_atom,
            "due_amount_atom": self.total_atom,
            "paid_amount_atom": self.paid_atom,
            "remaining_amount_atom": self.remaining_atom,
            "period_start": self.period_start,
            "period_end": self.period_end,
            "issued_at": self.issued_at,
            "due_date": self.due_date,
            "paid_at": self.paid_at,
            "attempt_count": self.attempt_count,
            "next_attempt_at": self.next_attempt_at,
            "description": self.description,
            "metadata": self.invoice_metadata,
            "items": [line.snapshot() for line in self.lines],
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class InvoiceLine(TimestampedMixin, Base):
    """One line: a subscription item for a period, a one-time price of a checkout, or a floating item."""

    __tablename__ = "invoice_lines"
    __table_args__ = (UniqueConstraint("invoice_id", "position"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    position: Mapped[int]
    name: Mapped[str] = mapped_column(String(250))
    description: Mapped[str | None] = mapped_column(String(500))
    price_id: Mapped[str | None] = mapped_column(ForeignKey("prices.id"))
    quantity: Mapped[int]
    unit_amount_atom: Mapped[int] = mapped_column(BigInteger)
    amount_atom: Mapped[int] = mapped_column(BigInteger)
    period_start: Mapped[datetime | None]
    period_end: Mapped[datetime | None]
    line_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "invoice_id": self.invoice_id,
            "name": self.name,
            "description": self.description,
            "price_id": self.price_id,
            "quantity": self.quantity,
            # The SDK's ``InvoiceItem`` amounts, in minor units as Stripe's invoice items give them.
            "unit_amount": self.unit_amount_atom,
            "amount": self.amount_atom,
            "unit_amount_atom": self.unit_amount_atom,
            "amount_atom": self.amount_atom,
            "period_start": self.period_start,
            "period_end": self.period_end,
            "metadata": self.line_metadata,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class PendingInvoiceItem(TimestampedMixin, Base):
    """A floating item waiting for its subscription's next invoice (a proration left by a plan change with
    ``create_prorations``): the renewal invoice takes every pending item of its subscription as a line, once."""

    __tablename__ = "pending_invoice_items"
    __table_args__ = (Index("ix_pending_invoice_items_subscription", "subscription_id", "invoice_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    # Set when an invoice took it.
    invoice_id: Mapped[str | None] = mapped_column(ForeignKey("invoices.id"))
    name: Mapped[str] = mapped_column(String(250))
    description: Mapped[str | None] = mapped_column(String(500))
    price_id: Mapped[str | None] = mapped_column(ForeignKey("prices.id"))
    quantity: Mapped[int]
    # Negative for a credit (the unused time of the plan left).
    amount_atom: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    period_start: Mapped[datetime | None]
    period_end: Mapped[datetime | None]
