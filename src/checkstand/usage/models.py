"""The usage module's table: one row per reported meter event (Stripe's billing meter events)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from checkstand.db import Base


class MeterEvent(Base):
    """A quantity of usage of ``metered_id`` by a customer at ``occurred_at``. ``identifier`` is the merchant's
    key: the same identifier reported twice is one event. ``subscription_id`` is the subscription the usage was
    attributed to when it arrived (the customer's live subscription with a price on this meter), if any."""

    __tablename__ = "meter_events"
    __table_args__ = (
        UniqueConstraint("account_id", "identifier", name="uq_meter_events_account_identifier"),
        Index("ix_meter_events_customer_meter_time", "customer_id", "metered_id", "occurred_at"),
        Index("ix_meter_events_account_created", "account_id", "created_at"),
        Index("ix_meter_events_account_product_created", "account_id", "product_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    metered_id: Mapped[str] = mapped_column(String(100))
    value: Mapped[int] = mapped_column(BigInteger)
    identifier: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[datetime]
    subscription_id: Mapped[str | None] = mapped_column(ForeignKey("subscriptions.id", ondelete="SET NULL"))
    event_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created_at: Mapped[datetime]
    # A Paid signal's: the product the merchant attributed the usage to, and the data reported with it, as sent.
    product_id: Mapped[str | None] = mapped_column(ForeignKey("products.id", ondelete="SET NULL"))
    data: Mapped[dict[str, Any] | None]

    aggregate_type: ClassVar[str] = "meter_event"

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account_id": self.account_id,
            "customer_id": self.customer_id,
            "metered_id": self.metered_id,
            "value": self.value,
            "identifier": self.identifier,
            "timestamp": self.occurred_at,
            "subscription_id": self.subscription_id,
            "metadata": self.event_metadata,
            "created_at": self.created_at,
        }
