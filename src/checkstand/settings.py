"""One settings object, read from ``CHECKSTAND_*`` environment variables."""

from __future__ import annotations

import ipaddress
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_KEY_FILE = "secret.key"  # noqa: S105 - a file name
# 256 bits: the at-rest key is stretched with SHA-256 and guards every sealed secret, so less would be the weak link.
MIN_SECRET_KEY_BYTES = 32
SECRET_KEY_HINT = "generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"  # noqa: S105


class Settings(BaseSettings):
    # hide_input_in_errors: a refused value is never echoed in the error (an SMTP URL carries its password).
    model_config = SettingsConfigDict(env_prefix="CHECKSTAND_", extra="ignore", hide_input_in_errors=True)

    data_dir: Path = Field(default=Path("checkstand-data"), description="Where the SQLite file and keys live.")
    database_url: str | None = Field(
        default=None, description="postgresql://... or sqlite:///...; default: SQLite in the data dir."
    )
    public_url: str | None = Field(
        default=None, description="Base of every URL handed to customers; default: the listen address."
    )
    # Secrets are left out of the settings' repr, so a logged or printed Settings never shows them.
    secret_key: str | None = Field(
        default=None,
        description="Key that encrypts secrets at rest; generated into the data dir when absent.",
        repr=False,
    )
    previous_secret_key: str | None = Field(
        default=None,
        description="The key being rotated away from: secrets sealed with it stay readable until re-encrypted.",
        repr=False,
    )
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "info"
    log_format: Literal["text", "json"] = Field(
        default="text", description="text: one line per record; json: one JSON object per line."
    )
    metrics: Literal["off", "on", "token"] = Field(
        default="off", description="GET /metrics: off (404), on (open to anyone who reaches it), token (bearer)."
    )
    metrics_token: str | None = Field(
        default=None,
        description="The bearer token /metrics asks for when metrics is 'token'.",
        min_length=16,
        repr=False,
    )
    worker_metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="`checkstand worker` serves /metrics on this port (when enabled)."
    )
    instance_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=40,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="`checkstand worker` only: its name on this host, held by one live worker at a time. A worker "
        "restarted under the same name settles at once the payments its dead predecessor left; without a name, "
        "once their leases run out.",
    )
    worker_heartbeat_seconds: float = Field(
        default=5.0, gt=0, description="How often a worker records in the database that it is alive."
    )
    worker_stale_seconds: float = Field(
        default=60.0, gt=0, description="/readyz fails when no worker has recorded a heartbeat for this long."
    )
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
    webhook_allow_private_urls: bool = Field(
        default=False,
        description="Let webhook endpoints be on loopback, private, link-local or metadata addresses (tests, local "
        "development); refused by default, at creation and again at delivery after DNS resolution.",
    )
    processor_allow_private_urls: bool = Field(
        default=False,
        description="Let a Stripe connection's api_base be plain http, or on loopback, private, link-local or "
        "metadata addresses (localstripe in tests, local development); refused by default, when the connection is "
        "stored and again on every request after DNS resolution.",
    )
    attempt_lease_seconds: float = Field(
        default=10.0,
        gt=0,
        description="A payment attempt's lease, renewed every third of it while its process waits on a processor; "
        "once it runs out (the process died) the worker settles the attempt.",
    )
    challenge_timeout_seconds: float = Field(
        default=1800.0, gt=0, description="How long a customer has for a 3-D Secure challenge before it fails."
    )
    dunning_retry_days: str = Field(
        default="3,5,7",
        pattern=r"^\s*[0-9]{1,3}(\s*,\s*[0-9]{1,3})*\s*$",
        description="Days after a renewal's first failed payment on which it is retried, comma-separated, rising.",
    )
    dunning_subscription_on_failure: Literal["cancel", "unpaid"] = Field(
        default="cancel",
        description="What the last failed retry does to the subscription: cancel it, or mark it unpaid.",
    )
    dunning_invoice_on_failure: Literal["mark_uncollectible", "leave_open"] = Field(
        default="mark_uncollectible", description="What the last failed retry does to the invoice."
    )
    dunning_settle_past_due_on_pm_update: bool = Field(
        default=True,
        description="Whether a subscription's new default payment method is charged at once for its past-due "
        "invoices (which returns it to active when they are paid).",
    )
    test_clock_advance_wait_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How long a test clock's advance request waits for the worker to catch up before it answers "
        "the clock still advancing.",
    )
    usage_grace_seconds: int = Field(
        default=3600,
        ge=0,
        le=7 * 24 * 3600,
        description="How long after a period's end meter events for it are still accepted: a subscription with a "
        "metered price is invoiced this long after its period ends, so usage reported late is billed.",
    )
    confirm_max_failed_per_session: int = Field(
        default=10, ge=1, description="Failed payments a checkout session takes within the rate window."
    )
    confirm_max_failed_per_ip: int = Field(
        default=30, ge=1, description="Failed payments from one client IP, on any session, within the rate window."
    )
    confirm_max_failed_per_card: int = Field(
        default=5,
        ge=1,
        description="Failed payments with one card, on any session from any address, within the rate window.",
    )
    confirm_rate_window_seconds: float = Field(
        default=600.0, gt=0, description="The window the confirm rate limits count over."
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated IPs or CIDRs of the proxies (load balancers) whose X-Forwarded-For names the "
        "client; a request from any other peer is counted under the peer's own address. Empty: trust none.",
    )
    payment_link_max_visits_per_ip: int = Field(
        default=20,
        ge=1,
        description="Checkout sessions one client IP may open from one payment link within the confirm rate window.",
    )
    max_request_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="A request body larger than this is refused (413) before it is read."
    )
    brand_image_max_bytes: int = Field(
        default=512 * 1024,
        ge=1024,
        description="The largest logo or icon image a merchant may upload (each; the whole request is also bound by "
        "max_request_bytes).",
    )
    stripe_js_url: str = Field(
        default="https://js.stripe.com/v3/",
        description="Where the hosted page loads Stripe.js from; Stripe requires its own (never a self-hosted copy).",
    )
    smtp_url: SecretStr | None = Field(
        default=None,
        description="The SMTP server receipts are sent through: smtp://user:password@host:587 (STARTTLS when the "
        "server offers it; add ?starttls=required to refuse sending without it) or smtps://... (TLS from the "
        "start). Unset: no receipt emails. A secret: never shown in logs, errors or the settings' repr.",
    )
    smtp_from: str | None = Field(
        default=None,
        max_length=320,
        description="The sender of receipt emails, e.g. 'Shop <receipts@shop.example>'; needed with smtp_url.",
    )

    @field_validator("secret_key", "previous_secret_key")
    @classmethod
    def _long_enough(cls, value: str | None) -> str | None:
        if value is not None and len(value.encode()) < MIN_SECRET_KEY_BYTES:
            raise ValueError(f"must be at least {MIN_SECRET_KEY_BYTES} bytes; {SECRET_KEY_HINT}")
        return value

    @model_validator(mode="after")
    def _metrics_token_given(self) -> Settings:
        if self.metrics == "token" and not self.metrics_token:
            raise ValueError("CHECKSTAND_METRICS=token needs CHECKSTAND_METRICS_TOKEN (at least 16 characters)")
        return self

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("must be smtp://[user:password@]host[:port] or smtps://...")
        try:
            parts.port  # noqa: B018 - urlsplit checks the port only when it is read
        except ValueError:
            raise ValueError("has a port that is not a number from 0 to 65535") from None
        if parts.query not in ("", "starttls=required"):
            raise ValueError("takes no query but ?starttls=required")
        return value

    @model_validator(mode="after")
    def _smtp_from_given(self) -> Settings:
        if self.smtp_url is not None and not self.smtp_from:
            raise ValueError("CHECKSTAND_SMTP_URL needs CHECKSTAND_SMTP_FROM (the sender of receipt emails)")
        return self

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, value: str) -> str:
        # Checked here: uvicorn's middleware would take a mistyped entry for a host name and silently trust nothing.
        # Normalized too: it reads "10.1.2.3/8" as a host name, where an operator means 10.0.0.0/8.
        entries = []
        for entry in (item.strip() for item in value.split(",")):
            if not entry:
                continue
            try:
                entries.append(
                    str(ipaddress.ip_network(entry, strict=False) if "/" in entry else ipaddress.ip_address(entry))
                )
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or CIDR network") from None
        return ",".join(entries)

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
            path.write_text(secrets.token_urlsafe(MIN_SECRET_KEY_BYTES))
            path.chmod(0o600)
        key = path.read_text().strip()
        if len(key.encode()) < MIN_SECRET_KEY_BYTES:
            raise ValueError(f"{path} holds a key shorter than {MIN_SECRET_KEY_BYTES} bytes; {SECRET_KEY_HINT}")
        return key

    @property
    def at_rest_keys(self) -> tuple[str, ...]:
        """The key that seals, then the one being rotated away from (which only opens)."""
        return (self.resolved_secret_key, *([self.previous_secret_key] if self.previous_secret_key else []))
