"""A payment link, the line items it sells, and its visits: each visit is the checkout session it opened, kept with
the client address it came from (what the visit rate limit counts). A link says what it is in an event
(``snapshot``, in PaymentKit's field names)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Final

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from checkstand.core import clock
from checkstand.db import Base, TimestampedMixin

# A link's ``mode``: what its sessions sell, one-time prices only or at least one recurring one.
PAYMENT: Final = "payment"
SUBSCRIPTION: Final = "subscription"


class PaymentLink(TimestampedMixin, Base):
    """The terms every visit's session is made from. Its line items are checked as a session's are when the link is
    created, and again at each visit (a price archived since makes the visit unavailable, never a broken session)."""

    __tablename__ = "payment_links"
    __table_args__ = (Index("ix_payment_links_account_created", "account_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    secure_token: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str | None] = mapped_column(String(250))
    mode: Mapped[str] = mapped_column(String(16))
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"))
    success_url: Mapped[str] = mapped_column(String(2048))
    return_url: Mapped[str | None] = mapped_column(String(2048))
    expires_in_hours: Mapped[int]
    is_active: Mapped[bool] = mapped_column(default=True)
    coupon_id: Mapped[str | None] = mapped_column(String(64))
    promotion_code: Mapped[str | None] = mapped_column(String(64))
    link_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)

    line_items: Mapped[list[PaymentLinkLineItem]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="PaymentLinkLineItem.position"
    )

    aggregate_type: ClassVar[str] = "payment_link"

    def snapshot(self) -> dict[str, Any]:
        """Everything the API reads but the public URL, which depends on the address the service is reached at
        (``secure_token`` is there for a merchant that builds it)."""
        return {
            "id": self.id,
            "secure_token": self.secure_token,
            "name": self.name,
            "mode": self.mode,
            "customer_id": self.customer_id,
            "success_url": self.success_url,
            "return_url": self.return_url,
            "expires_in_hours": self.expires_in_hours,
            "is_active": self.is_active,
            "line_items": [item.snapshot() for item in self.line_items],
            "metadata": self.link_metadata,
            "coupon_id": self.coupon_id,
            "promotion_code": self.promotion_code,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class PaymentLinkLineItem(TimestampedMixin, Base):
    __tablename__ = "payment_link_line_items"
    __table_args__ = (Index("ix_payment_link_line_items_link", "payment_link_id", "position"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    payment_link_id: Mapped[str] = mapped_column(ForeignKey("payment_links.id", ondelete="CASCADE"))
    position: Mapped[int]
    price_id: Mapped[str] = mapped_column(ForeignKey("prices.id"))
    quantity: Mapped[int]
    description: Mapped[str | None] = mapped_column(String(500))

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "price_id": self.price_id,
            "quantity": self.quantity,
            "description": self.description,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class PaymentLinkVisit(Base):
    """One visit that opened a session. The index serves the rate limit's count (visits of a link from one address
    since a time) and the link's sessions, newest first."""

    __tablename__ = "payment_link_visits"
    __table_args__ = (
        Index("ix_payment_link_visits_link_ip_created", "payment_link_id", "client_ip", "created_at"),
        Index("ix_payment_link_visits_link_created", "payment_link_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    payment_link_id: Mapped[str] = mapped_column(ForeignKey("payment_links.id", ondelete="CASCADE"))
    checkout_session_id: Mapped[str] = mapped_column(
        ForeignKey("checkout_sessions.id", ondelete="CASCADE"), unique=True
    )
    client_ip: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
