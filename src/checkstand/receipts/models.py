"""Receipt emails owed to customers: one row per payment, written with the payment's event."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from checkstand.db import Base, TimestampedMixin

# A receipt's states: pending (to send, now or at ``next_attempt_at``) -> sent | failed (given up).
PENDING: Final = "pending"
SENT: Final = "sent"
FAILED: Final = "failed"

RECEIPT_PREFIX: Final = "rcpt"


class ReceiptEmail(TimestampedMixin, Base):
    """The receipt a payment owes its customer. Unique per payment, so however many events, workers or retries
    touch it, a payment has one. A worker holds it while ``locked_until`` is in the future (as webhook deliveries
    are held), and sends it outside any transaction."""

    __tablename__ = "receipt_emails"
    __table_args__ = (
        Index("ix_receipt_emails_due", "status", "next_attempt_at"),
        Index("ix_receipt_emails_account_created", "account_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id", ondelete="CASCADE"), unique=True)
    # The address as it was when the payment was made: what the confirmation says the receipt went to.
    recipient: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(16))
    attempt_count: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    # When the first failed attempt was made: retries stop once they have gone on for the retry window.
    retrying_since: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    sent_at: Mapped[datetime | None]
    locked_until: Mapped[datetime | None]
    locked_by: Mapped[str | None] = mapped_column(String(64))
