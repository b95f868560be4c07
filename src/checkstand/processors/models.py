"""Processor connections, routes, the simulator's charges and refunds, and the Stripe events received. Connections
and routes say what they are in an event (``snapshot``, in PaymentKit's field names)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from checkstand.core import clock
from checkstand.db import Base, JSONDocument, TimestampedMixin


class Processor(TimestampedMixin, Base):
    """A processor connection of an account: the built-in ``simulator`` or a ``stripe`` account.

    Credentials are one JSON document sealed with the at-rest key (``sealed_credentials``); only their last
    characters are kept in the clear, for the API to show which key is connected. Deleting a connection keeps the
    row (``deleted_at``), because payment attempts keep pointing at the processor that handled them."""

    __tablename__ = "processors"
    __table_args__ = (Index("ix_processors_account_created", "account_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(32))
    # Lower-case ISO 4217 codes the connection takes payments in.
    currencies: Mapped[list[str]] = mapped_column(JSONDocument)
    # The simulator's outage switch; a Stripe connection is always available until a call says otherwise.
    is_available: Mapped[bool] = mapped_column(default=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    api_base: Mapped[str | None] = mapped_column(String(2048))
    sealed_credentials: Mapped[str | None] = mapped_column(String(2048))
    # Stripe's publishable key is public by design (Stripe.js sends it from the browser): kept in the clear.
    publishable_key: Mapped[str | None] = mapped_column(String(255))
    secret_key_last4: Mapped[str | None] = mapped_column(String(4))
    livemode: Mapped[bool | None]
    processor_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    deleted_at: Mapped[datetime | None]

    aggregate_type: ClassVar[str] = "processor"

    def snapshot(self) -> dict[str, Any]:
        """Never a secret: only whether one is held and the key's last characters. A Stripe connection's sealed
        credentials always hold both secrets."""
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "currencies": self.currencies,
            "is_available": self.is_available,
            "is_active": self.is_active,
            "livemode": self.livemode,
            "api_base": self.api_base,
            "publishable_key": self.publishable_key,
            "has_secret_key": self.sealed_credentials is not None,
            "secret_key_last4": self.secret_key_last4,
            "has_webhook_secret": self.sealed_credentials is not None,
            "metadata": self.processor_metadata,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class ProcessorRoute(TimestampedMixin, Base):
    """An ordered list of an account's processors that a checkout tries in turn."""

    __tablename__ = "processor_routes"
    __table_args__ = (Index("ix_processor_routes_account_created", "account_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(1000))
    # Loaded with the route, always: every read of a route renders its processors, and async sessions can't
    # load lazily.
    entries: Mapped[list[ProcessorRouteEntry]] = relationship(
        order_by="ProcessorRouteEntry.position",
        cascade="all, delete-orphan",
        lazy="selectin",
        passive_deletes=True,
    )

    aggregate_type: ClassVar[str] = "processor_route"

    def snapshot(self) -> dict[str, Any]:
        """``processors`` in the order a checkout tries them."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "processors": [
                {"processor_id": entry.processor_id, "disposition": entry.disposition} for entry in self.entries
            ],
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class ProcessorRouteEntry(Base):
    """One step of a route. A table rather than a JSON list, so "which routes use this processor" is an indexed
    query and the database itself refuses a step naming a processor that doesn't exist."""

    __tablename__ = "processor_route_entries"
    __table_args__ = (Index("ix_processor_route_entries_account_processor", "account_id", "processor_id"),)

    route_id: Mapped[str] = mapped_column(ForeignKey("processor_routes.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    processor_id: Mapped[str] = mapped_column(ForeignKey("processors.id"))
    disposition: Mapped[str] = mapped_column(String(32))


class SimulatorCharge(TimestampedMixin, Base):
    """What the built-in simulator "charged": one row per idempotency key and connection, so a repeated key answers
    the first result and never charges twice, across processes and restarts. Only a card's last four digits are
    kept. ``challenge_token`` keys the 3-D Secure page of a charge that requires action."""

    __tablename__ = "simulator_charges"
    __table_args__ = (UniqueConstraint("processor_id", "idempotency_key"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    processor_id: Mapped[str] = mapped_column(ForeignKey("processors.id"))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    amount_atom: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    status: Mapped[str] = mapped_column(String(32))
    decline_code: Mapped[str | None] = mapped_column(String(64))
    challenge_token: Mapped[str | None] = mapped_column(String(100), unique=True)
    # Where the 3-D Secure page sends the customer back once they have decided.
    return_url: Mapped[str | None] = mapped_column(String(2048))
    # Indexed: a renewal charging a saved card finds the charge that saved it by this reference.
    saved_payment_method: Mapped[str | None] = mapped_column(String(64), index=True)
    # What the network tells of a saved card (its brand from the number, read when the card was seen; its expiry),
    # as Stripe's PaymentMethod does; never the number.
    card_brand: Mapped[str | None] = mapped_column(String(32))
    card_exp_month: Mapped[int | None]
    card_exp_year: Mapped[int | None]
    # Set on the rows of a saved card once it is detached: the network charges it no more.
    detached_at: Mapped[datetime | None]


class SimulatorRefund(TimestampedMixin, Base):
    """What the simulator "refunded" of one of its charges: one row per idempotency key and connection, as for
    charges, refused ones included (``failed``) so a repeated key answers the same. Only ``succeeded`` rows count
    towards what the charge has given back, which the "network" never lets pass the charge's amount."""

    __tablename__ = "simulator_refunds"
    __table_args__ = (UniqueConstraint("processor_id", "idempotency_key"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    processor_id: Mapped[str] = mapped_column(ForeignKey("processors.id"))
    # Indexed: every refund sums the earlier ones of its charge.
    charge_id: Mapped[str | None] = mapped_column(ForeignKey("simulator_charges.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(255))
    amount_atom: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(32))
    failure_code: Mapped[str | None] = mapped_column(String(64))


class StripeEvent(Base):
    """An event Stripe sent to a connection's inbound webhook, stored once (Stripe retries and may send twice)."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    processor_id: Mapped[str] = mapped_column(ForeignKey("processors.id"), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]]
    received_at: Mapped[datetime] = mapped_column(default=clock.now)
    processed_at: Mapped[datetime | None]
