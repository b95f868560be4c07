"""Test clocks, as Stripe's: a frozen time of an account's own that customers attached to it live by.

Everything time-dependent about a customer on a clock (session expiry, trial ends, renewals, dunning retries) reads
the clock's ``frozen_time`` instead of the real one; advancing the clock is how a year of billing runs in seconds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Final

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from checkstand.db import Base, TimestampedMixin

# A clock is ``advancing`` while the worker catches its customers up with a new frozen time, ``ready`` otherwise.
READY: Final = "ready"
ADVANCING: Final = "advancing"


class TestClock(TimestampedMixin, Base):
    """``advanced_to`` is the time the worker has caught its customers up to; the clock is ``ready`` again when it
    reaches ``frozen_time``."""

    __tablename__ = "test_clocks"
    __table_args__ = (Index("ix_test_clocks_account_created", "account_id", "created_at"),)
    # Not a pytest test class, whatever its name says.
    __test__ = False

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(300))
    frozen_time: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default=READY)

    aggregate_type: ClassVar[str] = "test_clock"

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account_id": self.account_id,
            "name": self.name,
            "frozen_time": self.frozen_time,
            "status": self.status,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
