from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from checkstand.db import Base, TimestampedMixin


class Account(TimestampedMixin, Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(1000))
    account_type: Mapped[str] = mapped_column(String(32), default="standard")
    organization_id: Mapped[str] = mapped_column(String(64))
    is_demo: Mapped[bool] = mapped_column(default=False, index=True)
    brand_settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    default_processor_route_id: Mapped[str | None] = mapped_column(String(64))


class ApiKey(TimestampedMixin, Base):
    """A secret key is shown once at creation; only its SHA-256 digest and a short preview are kept."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_account_created", "account_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    description: Mapped[str | None] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    secret_token_preview: Mapped[str] = mapped_column(String(16))
    publishable_token: Mapped[str] = mapped_column(String(80), unique=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    revoked_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]


class BrandImage(TimestampedMixin, Base):
    """An uploaded logo or icon, served by Checkstand itself. Its id is a digest of the account and the bytes: the
    same upload is the same row and URL (cached forever), and an id can't be guessed without the image."""

    __tablename__ = "brand_images"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    content_type: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)
