"""The dashboard's tables: its users (each belongs to one account), their sign-in sessions, one-time sign-in links,
and the failed sign-ins that throttle guessing.

The dashboard owns them all, rather than ``accounts/``: no other module reads or writes them, and a user is a person
signing in to a browser surface, not something the API's keys know of. Every secret (a session's cookie, a sign-in
link's token) is stored only as its SHA-256 digest; a password only as its Argon2 hash."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from checkstand.core import clock
from checkstand.db import Base, TimestampedMixin


class DashboardUser(TimestampedMixin, Base):
    __tablename__ = "dashboard_users"
    __table_args__ = (Index("ix_dashboard_users_account_created", "account_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    # Stored lower-cased: one person, one user, however they type it.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    # None for a user who signs in only with a one-time link (the demo account's first user).
    password_hash: Mapped[str | None] = mapped_column(String(200))
    last_signed_in_at: Mapped[datetime | None]


class DashboardSession(Base):
    """A signed-in browser: the cookie holds the token, this row its digest. Ends when idle too long, at its absolute
    expiry, or at sign-out."""

    __tablename__ = "dashboard_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("dashboard_users.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    # The synchronizer token every form of this session carries; worthless without the cookie.
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    last_seen_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime]


class SignInLink(Base):
    """A single-use, short-lived link that signs its user in: what the demo account's first start prints."""

    __tablename__ = "dashboard_sign_in_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("dashboard_users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime]


class SignInFailure(Base):
    """One refused sign-in, counted per email and per client address over the throttle's window."""

    __tablename__ = "dashboard_sign_in_failures"
    __table_args__ = (
        Index("ix_dashboard_sign_in_failures_email_created", "email", "created_at"),
        Index("ix_dashboard_sign_in_failures_ip_created", "client_ip", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    client_ip: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
