"""A customer's saved payment method: the processor's token for it and what may be shown of it, never the card.

A card number never reaches a Checkstand table. The processor keeps the card (the simulator in its own vault, Stripe
as a ``pm_...`` attached to a Stripe customer); Checkstand keeps the processor's reference to charge it again, and
the brand, last four digits and expiry to show it.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from checkstand.db import Base, TimestampedMixin

CREDIT_CARD: Final = "credit_card"


class SavedPaymentMethod(TimestampedMixin, Base):
    """``is_active`` turns false when the method is deleted (detached): the row stays, because invoices and payments
    made with it keep naming it."""

    __tablename__ = "payment_methods"
    __table_args__ = (
        UniqueConstraint("processor_id", "processor_reference"),
        Index("ix_payment_methods_account_created", "account_id", "created_at"),
        Index("ix_payment_methods_account_customer", "account_id", "customer_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"))
    processor_id: Mapped[str] = mapped_column(ForeignKey("processors.id"))
    # The processor's own id: the simulator's ``simpm_...``, Stripe's ``pm_...``.
    processor_reference: Mapped[str] = mapped_column(String(255))
    # Stripe's customer (``cus_...``) the method is attached to; the simulator needs none.
    processor_customer_reference: Mapped[str | None] = mapped_column(String(255))
    provider_type: Mapped[str] = mapped_column(String(32), default=CREDIT_CARD)
    brand: Mapped[str | None] = mapped_column(String(32))
    last4: Mapped[str | None] = mapped_column(String(4))
    exp_month: Mapped[int | None]
    exp_year: Mapped[int | None]
    # The merchant's own name for the method (the SDK's ``name``); shown instead of "Visa ending 4242" when set.
    display_name: Mapped[str | None] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(default=True)
    # Chosen as its customer's default (Paid's ``set-default``); see ``payment_methods.service.default_method_ids``.
    is_default: Mapped[bool] = mapped_column(default=False)
    method_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)

    aggregate_type: ClassVar[str] = "payment_method"

    @property
    def name(self) -> str:
        """How the method is shown: the merchant's name for it, else "Visa ending 4242"."""
        if self.display_name:
            return self.display_name
        brand = (self.brand or "card").capitalize()
        return f"{brand} ending {self.last4}" if self.last4 else brand

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account_id": self.account_id,
            "customer_id": self.customer_id,
            "provider_type": self.provider_type,
            "name": self.name,
            "is_active": self.is_active,
            "metadata": self.method_metadata,
            "brand": self.brand,
            "last4": self.last4,
            "exp_month": self.exp_month,
            "exp_year": self.exp_year,
            "processor_id": self.processor_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
