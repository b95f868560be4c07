"""Webhook endpoints, their secrets, and each event's deliveries with their attempts. An endpoint says what it is
in an event (``snapshot``, in PaymentKit's field names); the event log's fan-out writes the delivery rows.

An endpoint speaks one dialect: PaymentKit's (Standard Webhooks headers, the SDK's ``Event`` as the body, a secret
of its own) or Paid's (one endpoint per Paid webhook name, Paid's envelope and ``x-webhook-signature``, signed
with the account's one Paid signing secret, :class:`PaidSigningSecret`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Final

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from checkstand.core import clock
from checkstand.db import Base, JSONDocument, Serial, TimestampedMixin

PENDING: Final = "pending"
SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"

PAYMENTKIT: Final = "paymentkit"
PAID: Final = "paid"


class WebhookEndpoint(TimestampedMixin, Base):
    """A merchant's URL and the event types it wants (``["*"]`` for all). Deleting one only deactivates it, so
    its delivery history stays readable."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        Index("ix_webhook_endpoints_account_created", "account_id", "created_at"),
        Index("ix_webhook_endpoints_failing_since", "failing_since"),
        UniqueConstraint("account_id", "paid_name", name="uq_webhook_endpoints_account_paid_name"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(500))
    events: Mapped[list[str]] = mapped_column(JSONDocument())
    is_active: Mapped[bool] = mapped_column(default=True)
    # Start of the current run of failed attempts; a success clears it. The worker disables an endpoint whose run
    # has lasted ``webhook_disable_after_seconds``.
    failing_since: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(String(32))
    # PAYMENTKIT or PAID: the wire shape and signature of what it is sent (delivery renders the event accordingly).
    dialect: Mapped[str] = mapped_column(String(16), default=PAYMENTKIT)
    # A Paid endpoint's webhook name (``billing-checkout-completed``): one endpoint per name and account. Its
    # ``events`` are the event types the name stands for, and its ``url`` is "" while Paid's ``url`` is null.
    paid_name: Mapped[str | None] = mapped_column(String(64))

    aggregate_type: ClassVar[str] = "webhook_endpoint"

    @property
    def is_protected(self) -> bool:
        """A Paid endpoint is managed through Paid's ``webhooks`` API only: its events, secret and existence follow
        Paid's rules (one per name, the account's secret), which PaymentKit's calls would break."""
        return self.dialect == PAID

    def snapshot(self) -> dict[str, Any]:
        """Never the secret. ``disabled_reason`` says why an inactive one is: ``deactivated``, ``deleted`` or
        ``failing``."""
        return {
            "id": self.id,
            "url": self.url,
            "description": self.description,
            "events": self.events,
            "is_active": self.is_active,
            "is_protected": self.is_protected,
            "disabled_reason": self.disabled_reason,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class WebhookEndpointSecret(Base):
    """A signing secret, sealed with the at-rest key. After a roll the old one keeps signing until ``expires_at``,
    so receivers can switch over without dropping a delivery."""

    __tablename__ = "webhook_endpoint_secrets"
    __table_args__ = (Index("ix_webhook_endpoint_secrets_endpoint_created", "endpoint_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    sealed_secret: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime | None]


class PaidSigningSecret(Base):
    """The account's Paid webhook signing secret, sealed with the at-rest key: one for every Paid endpoint, as
    Paid has one per organization. Rotating replaces it at once (Paid: "the previous secret is invalidated
    immediately"), so there is no overlap to track."""

    __tablename__ = "paid_webhook_secrets"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    sealed_secret: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class WebhookDelivery(TimestampedMixin, Base):
    """One event owed to one endpoint, written with the event. ``pending`` until it succeeds or is given up
    (``failed``); a worker holds it while ``locked_until`` is in the future."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at", "event_seq"),
        Index("ix_webhook_deliveries_order", "endpoint_id", "aggregate_id", "event_seq"),
        Index("ix_webhook_deliveries_endpoint_status_created", "endpoint_id", "status", "created_at"),
        Index("ix_webhook_deliveries_account_created", "account_id", "created_at"),
        # An endpoint's latest attempt (Paid's lastSentAt and lastStatus).
        Index("ix_webhook_deliveries_endpoint_last_attempt", "endpoint_id", "last_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    # Copied from the event so the ordering rule (no event of an aggregate overtakes an earlier one) needs no join.
    event_seq: Mapped[int] = mapped_column(Serial)
    aggregate_id: Mapped[str] = mapped_column(String(64))
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    attempt_count: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    response_status: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(String(500))
    # First failed attempt since the delivery was (re)armed: retries stop ``webhook_retry_window_seconds`` later.
    retrying_since: Mapped[datetime | None]
    locked_until: Mapped[datetime | None]
    locked_by: Mapped[str | None] = mapped_column(String(64))


class WebhookDeliveryAttempt(Base):
    """One HTTP request made for a delivery, whatever came of it."""

    __tablename__ = "webhook_delivery_attempts"
    __table_args__ = (Index("ix_webhook_delivery_attempts_delivery_number", "delivery_id", "number"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"))
    number: Mapped[int]
    worker_id: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(2048))
    started_at: Mapped[datetime]
    duration_ms: Mapped[int]
    response_status: Mapped[int | None]
    response_body: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(String(500))
    outcome: Mapped[str] = mapped_column(String(16))
