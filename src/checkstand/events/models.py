"""The event log: one row per state change, written in the transaction that makes it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from checkstand.core import clock
from checkstand.db import Base, Serial


class Event(Base):
    """Written in the same transaction as the change it announces, so none is lost and none is sent for a change
    that rolled back. ``seq`` orders the events of an account as they were written."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_account_seq", "account_id", "seq"),
        Index("ix_events_account_aggregate", "account_id", "aggregate_id"),
        Index("ix_events_account_type", "account_id", "type"),
    )

    seq: Mapped[int] = mapped_column(Serial, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(100))
    aggregate_type: Mapped[str] = mapped_column(String(64))
    aggregate_id: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]]
    previous_data: Mapped[dict[str, Any] | None]
    event_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    correlation_id: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
