"""Checkout attempts, their processor attempts and transitions, and payments. Attempts and payments say what they
are in an event (``snapshot``, in PaymentKit's field names)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Final

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from checkstand.core import clock
from checkstand.db import Base, TimestampedMixin

# A checkout attempt's states: pending -> processing -> [requires_action -> processing] -> succeeded | failed.
PENDING: Final = "pending"
PROCESSING: Final = "processing"
REQUIRES_ACTION: Final = "requires_action"
SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"

# A processor attempt's ``charge_status``: ``pending`` while the processor is being asked, then its outcome, or
# ``skipped`` (never called) or ``canceled`` (a challenge left undone because another processor took the payment).
CHARGE_PENDING: Final = "pending"
CHARGE_SKIPPED: Final = "skipped"
CHARGE_CANCELED: Final = "canceled"

# An attempt's ``three_ds_mode``: go through a challenge when one is asked for, or first try the route's other
# processors, which may take the payment without one.
FIRST_3DS_WINS: Final = "first_3ds_wins"
PREFER_NON_3DS: Final = "prefer_non_3ds"

# A processor attempt's ``setup_status`` on the wire, beside the statuses a setup shares with a charge.
SETUP_NOT_REQUESTED: Final = "not_requested"
SETUP_SUCCEEDED: Final = "succeeded"

# A payment charge's (the SDK's payment attempt's) id prefix.
PAYMENT_CHARGE_PREFIX: Final = "pch"


class CheckoutAttempt(TimestampedMixin, Base):
    """One customer's try at paying a checkout session: pending -> processing -> [requires_action] -> succeeded or
    failed. Card numbers are never stored; a Stripe payment method id is, so recovery can retry with it."""

    __tablename__ = "checkout_attempts"
    __table_args__ = (
        Index("ix_checkout_attempts_account_created", "account_id", "created_at"),
        Index("ix_checkout_attempts_session_created", "checkout_session_id", "created_at"),
        # What the confirm rate limits count (payments/rate_limits.py): failed attempts by client IP and by card.
        Index("ix_checkout_attempts_ip_state_created", "client_ip", "state", "created_at"),
        Index("ix_checkout_attempts_card_state_created", "card_fingerprint", "state", "created_at"),
        Index("ix_checkout_attempts_state_updated", "state", "updated_at"),
        Index("ix_checkout_attempts_state_lease", "state", "lease_expires_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    checkout_session_id: Mapped[str] = mapped_column(ForeignKey("checkout_sessions.id", ondelete="CASCADE"))
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"))
    state: Mapped[str] = mapped_column(String(32))
    # The cascade tier being charged now, and the first one the customer chose.
    tier: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    submitted_customer_info: Mapped[dict[str, Any]] = mapped_column(default=dict)
    payment_method_reference: Mapped[str | None] = mapped_column(String(255))
    three_ds_mode: Mapped[str | None] = mapped_column(String(32))
    client_ip: Mapped[str | None] = mapped_column(String(64))
    # An HMAC of the card's number (payments/rate_limits.py), never the number: what card-testing limits count on.
    card_fingerprint: Mapped[str | None] = mapped_column(String(64))
    action_url: Mapped[str | None] = mapped_column(String(2048))
    decline_code: Mapped[str | None] = mapped_column(String(64))
    error_message_for_customer: Mapped[str | None] = mapped_column(String(500))
    error_message_for_debug: Mapped[str | None] = mapped_column(String(1000))
    subscription_id: Mapped[str | None] = mapped_column(String(64))
    saved_payment_method: Mapped[str | None] = mapped_column(String(255))
    # While processing: until when the process driving it is presumed alive (payments/leases.py); recovery takes
    # the attempt over only after it.
    lease_expires_at: Mapped[datetime | None]
    # Who holds that lease: "<instance>/<process>" (payments/leases.py). A process that claims the instance at start
    # ends the leases of the instance's earlier processes at once, since they are dead; None claims no instance.
    lease_owner: Mapped[str | None] = mapped_column(String(200))

    processor_attempts: Mapped[list[ProcessorAttempt]] = relationship(
        lazy="selectin", order_by="ProcessorAttempt.position", cascade="all, delete-orphan", passive_deletes=True
    )
    transitions: Mapped[list[AttemptTransition]] = relationship(
        lazy="selectin",
        order_by="(AttemptTransition.created_at, AttemptTransition.position)",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    aggregate_type: ClassVar[str] = "checkout_attempt"

    def charged_reference(self) -> str | None:
        """The processor's id of the charge that took (or awaits) the money, Stripe's PaymentIntent id for Stripe."""
        for processor_attempt in reversed(self.processor_attempts):
            if processor_attempt.is_setup:
                continue  # a setup took no money
            if processor_attempt.charge_status in ("succeeded", "requires_action"):
                return processor_attempt.processor_reference
        return None

    def snapshot(self) -> dict[str, Any]:
        """Every processor attempt included. Checkstand's only kind of attempt is a card attempt, so the card
        attempt is the attempt itself."""
        return {
            "id": self.id,
            "checkout_session_id": self.checkout_session_id,
            "customer_id": self.customer_id,
            "payment_intent_id": self.charged_reference(),
            "state": self.state,
            "error_message_for_customer": self.error_message_for_customer,
            "error_message_for_debug": self.error_message_for_debug,
            "decline_code": self.decline_code,
            "submitted_customer_info": self.submitted_customer_info,
            "fraud_metadata": {"client_ip": self.client_ip} if self.client_ip else {},
            "attempt_metadata": None,
            "tier": self.tier,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "invoice_id": None,
            "subscription_id": self.subscription_id,
            "payment_method_id": self.saved_payment_method,
            "card_checkout_attempt_id": self.id,
            "card_checkout_attempt_state": self.state,
            "processor_attempts": [attempt.snapshot() for attempt in self.processor_attempts],
        }


class ProcessorAttempt(TimestampedMixin, Base):
    """One call (or deliberate skip) of one processor within a checkout attempt. The idempotency key is committed
    before the processor is called, so a crash in between is settled by asking the processor again with it."""

    __tablename__ = "processor_attempts"
    __table_args__ = (
        UniqueConstraint("checkout_attempt_id", "position"),
        UniqueConstraint("idempotency_key"),
        Index("ix_processor_attempts_account_created", "account_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    checkout_attempt_id: Mapped[str] = mapped_column(ForeignKey("checkout_attempts.id", ondelete="CASCADE"))
    position: Mapped[int]
    tier: Mapped[int]
    processor_id: Mapped[str] = mapped_column(ForeignKey("processors.id"))
    processor_name: Mapped[str] = mapped_column(String(100))
    disposition: Mapped[str] = mapped_column(String(32))
    # pending (being called), succeeded, declined, requires_action, unavailable, skipped.
    charge_status: Mapped[str] = mapped_column(String(32))
    skip_reason: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    amount_atom: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    decline_code: Mapped[str | None] = mapped_column(String(64))
    processor_reference: Mapped[str | None] = mapped_column(String(255))
    processor_message: Mapped[str | None] = mapped_column(String(1000))
    action_url: Mapped[str | None] = mapped_column(String(2048))
    saved_payment_method: Mapped[str | None] = mapped_column(String(255))
    # A setup (nothing due today: a trial) saves the payment method and charges nothing; ``charge_status`` is then
    # the setup's status, and recovery asks the processor about a setup, not a charge, with the key.
    is_setup: Mapped[bool] = mapped_column(default=False)

    def setup_status(self) -> str:
        """The SDK's ``setup_status``: a setup's own status; for a charge, whether it saved the payment method."""
        if self.is_setup:
            return self.charge_status
        return SETUP_SUCCEEDED if self.saved_payment_method else SETUP_NOT_REQUESTED

    def snapshot(self) -> dict[str, Any]:
        """The processor attempt as its checkout attempt's snapshot carries it. A charge that saves the payment
        method sets it up in the same call; a setup charges nothing (``charge_status`` not_requested)."""
        return {
            "processor_id": self.processor_id,
            "processor_name": self.processor_name,
            "disposition": self.disposition,
            "charge_status": SETUP_NOT_REQUESTED if self.is_setup else self.charge_status,
            "charge_error_message": None if self.is_setup else self.processor_message,
            "setup_status": self.setup_status(),
            "setup_error_message": self.processor_message if self.is_setup else None,
            "payment_attempt_id": self.id,
            "payment_method_id": self.saved_payment_method,
            "tier": self.tier,
            "amount_atom": self.amount_atom,
            "currency": self.currency,
            "decline_code": self.decline_code,
            "skip_reason": self.skip_reason,
        }


class AttemptTransition(Base):
    """Every state change of a checkout attempt, timestamped, in order."""

    __tablename__ = "attempt_transitions"
    __table_args__ = (UniqueConstraint("checkout_attempt_id", "position"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    checkout_attempt_id: Mapped[str] = mapped_column(ForeignKey("checkout_attempts.id", ondelete="CASCADE"))
    position: Mapped[int]
    from_state: Mapped[str] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class Payment(TimestampedMixin, Base):
    """A payment (the SDK's payment intent): the money one completed checkout session took, or one invoice's
    collection on a saved payment method (a renewal, a dunning retry, a merchant's own charge).

    Unique per checkout session and per invoice: the database itself refuses a second payment for either, whatever
    races above it. Each processor call it makes is a :class:`PaymentCharge`; ``amount_refunded_atom`` sums the
    succeeded refunds of its charges."""

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("checkout_session_id"),
        UniqueConstraint("invoice_id"),
        Index("ix_payments_account_created", "account_id", "created_at"),
        Index("ix_payments_account_customer", "account_id", "customer_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    checkout_session_id: Mapped[str | None] = mapped_column(ForeignKey("checkout_sessions.id", ondelete="CASCADE"))
    checkout_attempt_id: Mapped[str | None] = mapped_column(ForeignKey("checkout_attempts.id"))
    processor_attempt_id: Mapped[str | None] = mapped_column(ForeignKey("processor_attempts.id"))
    invoice_id: Mapped[str | None] = mapped_column(ForeignKey("invoices.id"))
    subscription_id: Mapped[str | None] = mapped_column(ForeignKey("subscriptions.id"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    processor_id: Mapped[str | None] = mapped_column(ForeignKey("processors.id"))
    processor_reference: Mapped[str | None] = mapped_column(String(255))
    payment_method_reference: Mapped[str | None] = mapped_column(String(255))
    payment_method_id: Mapped[str | None] = mapped_column(ForeignKey("payment_methods.id"))
    # processing, requires_action, succeeded, failed.
    status: Mapped[str] = mapped_column(String(32))
    tier: Mapped[int | None]
    amount_atom: Mapped[int] = mapped_column(BigInteger)
    amount_refunded_atom: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str | None] = mapped_column(String(500))
    confirmed_at: Mapped[datetime | None]
    payment_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)

    charges: Mapped[list[PaymentCharge]] = relationship(
        lazy="selectin", order_by="(PaymentCharge.created_at, PaymentCharge.id)", passive_deletes=True
    )

    aggregate_type: ClassVar[str] = "payment"

    def snapshot(self) -> dict[str, Any]:
        """``payment_method_id`` names the saved payment method, if the charge saved one."""
        return {
            "id": self.id,
            "account_id": self.account_id,
            "checkout_session_id": self.checkout_session_id,
            "checkout_attempt_id": self.checkout_attempt_id,
            "invoice_id": self.invoice_id,
            "subscription_id": self.subscription_id,
            "customer_id": self.customer_id,
            "processor_id": self.processor_id,
            "processor_reference": self.processor_reference,
            "payment_method_id": self.payment_method_id or self.payment_method_reference,
            "status": self.status,
            "tier": self.tier,
            "amount_atom": self.amount_atom,
            "amount_refunded_atom": self.amount_refunded_atom,
            "currency": self.currency,
            "description": self.description,
            "metadata": self.payment_metadata,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class PaymentCharge(TimestampedMixin, Base):
    """One processor call of a payment (the SDK's payment attempt). For a checkout payment it is the processor
    attempt that took the money, recorded again here so refunds and listings treat every charge alike.

    As for checkout attempts, the row and its idempotency key are committed *before* the processor is called
    (status ``pending``), so a crash in between is settled by asking the processor again with the key; the lease
    says until when the process that made the call is presumed alive."""

    __tablename__ = "payment_charges"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        Index("ix_payment_charges_account_created", "account_id", "created_at"),
        Index("ix_payment_charges_status_lease", "status", "lease_expires_at"),
        # A payment's attempts, as the API lists them.
        Index("ix_payment_charges_payment_created", "payment_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id", ondelete="CASCADE"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    processor_id: Mapped[str] = mapped_column(ForeignKey("processors.id"))
    payment_method_id: Mapped[str | None] = mapped_column(ForeignKey("payment_methods.id"))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    amount_atom: Mapped[int] = mapped_column(BigInteger)
    amount_refunded_atom: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    # pending (being called), succeeded, declined, requires_action, failed (the processor could not be reached).
    status: Mapped[str] = mapped_column(String(32))
    decline_code: Mapped[str | None] = mapped_column(String(64))
    failure_message: Mapped[str | None] = mapped_column(String(1000))
    processor_reference: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[datetime | None]
    # Who holds the lease, as on a checkout attempt (payments/leases.py).
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    captured_at: Mapped[datetime | None]

    aggregate_type: ClassVar[str] = "payment_attempt"

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account_id": self.account_id,
            "payment_intent_id": self.payment_id,
            "payment_method_id": self.payment_method_id,
            "processor_id": self.processor_id,
            "customer_id": self.customer_id,
            "amount_atom": self.amount_atom,
            "currency": self.currency,
            "status": self.status,
            "failure_code": self.decline_code,
            "failure_message": self.failure_message,
            "captured_at": self.captured_at,
            "refunded_amount_atom": self.amount_refunded_atom,
            "refunded": self.amount_refunded_atom >= self.amount_atom > 0,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class Refund(TimestampedMixin, Base):
    """Money given back from one charge, in full or in part, through the processor that took it.

    The refund's amount is reserved on its charge (``PaymentCharge.amount_refunded_atom``) under the charge's row
    lock before the processor is called, so concurrent refunds can never together exceed what was paid; a failed
    refund gives its reservation back."""

    __tablename__ = "refunds"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        Index("ix_refunds_account_created", "account_id", "created_at"),
        Index("ix_refunds_charge", "charge_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    charge_id: Mapped[str] = mapped_column(ForeignKey("payment_charges.id", ondelete="CASCADE"))
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id", ondelete="CASCADE"))
    amount_atom: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # The SDK's ``RefundStatus``: pending, succeeded, failed.
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    processor_refund_id: Mapped[str | None] = mapped_column(String(255))
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_message: Mapped[str | None] = mapped_column(String(1000))
    processed_at: Mapped[datetime | None]
    lease_expires_at: Mapped[datetime | None]
    refund_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)

    aggregate_type: ClassVar[str] = "refund"

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account_id": self.account_id,
            "charge_id": self.charge_id,
            "payment_intent_id": self.payment_id,
            "amount_atom": self.amount_atom,
            "currency": self.currency,
            "status": self.status,
            "reason": self.reason,
            "processor_refund_id": self.processor_refund_id,
            "failure_code": self.failure_code,
            "failure_message": self.failure_message,
            "processed_at": self.processed_at,
            "metadata": self.refund_metadata,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
