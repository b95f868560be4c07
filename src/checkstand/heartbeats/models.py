from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from checkstand.db import Base


class WorkerHeartbeat(Base):
    """A worker's last sign of life, one row per worker process, written by the worker itself. In the database
    rather than in memory because the process answering /readyz or /metrics is rarely the worker."""

    __tablename__ = "worker_heartbeats"

    worker_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    started_at: Mapped[datetime]
    beat_at: Mapped[datetime] = mapped_column(index=True)
