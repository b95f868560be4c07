from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from checkstand.db import Base, TimestampedMixin


class SecretKeyCheck(TimestampedMixin, Base):
    """One row: the check value (:func:`checkstand.core.crypto.key_check_value`) of the key this database's secrets
    are sealed with. Never the key itself."""

    __tablename__ = "secret_key_checks"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    check_value: Mapped[str] = mapped_column(String(64))
