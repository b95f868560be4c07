"""One settings object, read from ``CHECKSTAND_*`` environment variables."""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_KEY_FILE = "secret.key"  # noqa: S105 - a file name


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHECKSTAND_", extra="ignore")

    data_dir: Path = Field(default=Path("checkstand-data"), description="Where the SQLite file and keys live.")
    database_url: str | None = Field(
        default=None, description="postgresql://... or sqlite:///...; default: SQLite in the data dir."
    )
    public_url: str | None = Field(
        default=None, description="Base of every URL handed to customers; default: the listen address."
    )
    secret_key: str | None = Field(
        default=None,
        description="Key that encrypts secrets at rest; generated into the data dir when absent.",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "info"
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=60)
    idempotency_lock_seconds: int = Field(
        default=60, ge=1, description="An unfinished idempotent request older than this may be retried."
    )
    worker_poll_seconds: float = Field(default=1.0, gt=0)
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, description="A delivery attempt that takes longer than this, in total, has failed."
    )
    webhook_retry_base_seconds: float = Field(
        default=30.0, gt=0, description="Delay before the first retry; it doubles with each attempt (with jitter)."
    )
    webhook_retry_max_delay_seconds: float = Field(
        default=6 * 3600.0, gt=0, description="Longest delay between two attempts of one delivery."
    )
    webhook_retry_window_seconds: float = Field(
        default=3 * 24 * 3600.0, gt=0, description="How long a failing delivery is retried before it is given up."
    )
    webhook_disable_after_seconds: float = Field(
        default=3 * 24 * 3600.0, gt=0, description="An endpoint failing for this long without a success is disabled."
    )
    webhook_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a worker holds a delivery it claimed; a killed worker's deliveries are retried after it.",
    )
    webhook_concurrency: int = Field(default=32, ge=1, le=1000, description="Deliveries in flight per worker.")
    webhook_poll_seconds: float = Field(
        default=0.2, gt=0, description="How often an idle worker looks for due deliveries (a cheap read)."
    )
    webhook_secret_overlap_seconds: int = Field(
        default=24 * 3600, ge=0, description="How long an old signing secret keeps signing after a roll."
    )
    stripe_js_url: str = Field(
        default="https://js.stripe.com/v3/",
        description="Where the hosted page loads Stripe.js from; Stripe requires its own (never a self-hosted copy).",
    )

    @field_validator("stripe_js_url")
    @classmethod
    def _absolute_url(cls, value: str) -> str:
        # The page's Content-Security-Policy is derived from this URL's origin, so it must have one.
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL")
        return value

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy async URL: drivers are filled in so users may write plain ``postgresql://``."""
        url = self.database_url or f"sqlite:///{(self.data_dir / 'checkstand.db').resolve()}"
        for plain, driver in (
            ("postgresql://", "postgresql+asyncpg://"),
            ("postgres://", "postgresql+asyncpg://"),
            ("sqlite://", "sqlite+aiosqlite://"),
        ):
            if url.startswith(plain):
                return driver + url[len(plain) :]
        return url

    @property
    def resolved_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @cached_property
    def resolved_secret_key(self) -> str:
        """The at-rest encryption key; created once and kept in the data dir so restarts can decrypt."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / SECRET_KEY_FILE
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()
