"""The customers table. A customer says what it is in an event (``snapshot``, in PaymentKit's field names)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from checkstand.db import Base, JSONDocument, TimestampedMixin


class Customer(TimestampedMixin, Base):
    """Who pays. ``external_id`` is the merchant's own id for the customer, unique per account so a look-up by it
    finds one customer; ``first_purchase_at`` stays empty until a first payment succeeds."""

    __tablename__ = "customers"
    __table_args__ = (
        UniqueConstraint("account_id", "external_id"),
        Index("ix_customers_account_created", "account_id", "created_at"),
        Index("ix_customers_account_email", "account_id", "email_normalized"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    external_id: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    # Lower-cased, so look-ups by email ignore case while ``email`` keeps what the merchant wrote.
    email_normalized: Mapped[str | None] = mapped_column(String(320))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    # First and last name joined, kept in step by the service so a search for "ada love" finds Ada Lovelace.
    name: Mapped[str | None] = mapped_column(String(201))
    phone: Mapped[str | None] = mapped_column(String(40))
    billing_email: Mapped[str | None] = mapped_column(String(320))
    business_name: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[dict[str, Any] | None]
    shipping_address: Mapped[dict[str, Any] | None]
    tax_ids: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    currency: Mapped[str | None] = mapped_column(String(3))
    language: Mapped[str | None] = mapped_column(String(35))
    customer_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    first_purchase_at: Mapped[datetime | None]
    # The test clock whose time everything about this customer reads (test_clocks/), if any.
    test_clock_id: Mapped[str | None] = mapped_column(ForeignKey("test_clocks.id", ondelete="SET NULL"))
    # Credit the customer holds (a downgrade's unused time), in minor units of ``credit_balance_currency``; the next
    # invoice in that currency uses it up before anything is charged.
    credit_balance_atom: Mapped[int] = mapped_column(BigInteger, default=0)
    credit_balance_currency: Mapped[str | None] = mapped_column(String(3))
    website: Mapped[str | None] = mapped_column(String(2048))
    # When the merchant marked the customer as churned (Paid's ``churnDate``); None while it is a customer.
    churned_at: Mapped[datetime | None]
    # Deleted customers are kept for what refers to them (payments, invoices, events) and answered as unknown.
    deleted_at: Mapped[datetime | None]

    aggregate_type: ClassVar[str] = "customer"

    def credit_balance(self) -> dict[str, Any] | None:
        """The balance as the wire shows it (PaymentKit's ``CreditBalance``); None until the customer is first owed
        credit, since a balance has no currency before that."""
        if self.credit_balance_currency is None:
            return None
        return {"amount_atom": self.credit_balance_atom, "currency": self.credit_balance_currency}

    def snapshot(self) -> dict[str, Any]:
        """Custom fields included: a webhook receiver can't ask for an expansion. PaymentKit's notes, invoice
        settings and total spent don't exist here: always null."""
        return {
            "id": self.id,
            "name": self.name,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "email": self.email,
            "phone": self.phone,
            "billing_email": self.billing_email,
            "business_name": self.business_name,
            "address": dict(self.address) if self.address else None,
            "shipping_address": dict(self.shipping_address) if self.shipping_address else None,
            "note_id": None,
            "tax_ids": self.tax_ids,
            "currency": self.currency,
            "language": self.language,
            "invoice_settings": None,
            "credit_balance": self.credit_balance(),
            "total_spent": None,
            "metadata": self.customer_metadata,
            "custom_fields": self.custom_fields,
            "external_id": self.external_id,
            "test_clock_id": self.test_clock_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
