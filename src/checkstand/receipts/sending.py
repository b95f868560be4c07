"""Sending receipts: claim due ones, render them, hand them to the SMTP server, record what came of it.

As webhook deliveries are sent (:mod:`checkstand.webhooks.delivery`): a pass claims due receipts in a short
transaction of its own (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so passes side by side never take the same row;
SQLite serialises writers anyway) and writes a lease on them; it reads what they say in a reading transaction,
talks to the SMTP server outside any transaction, then records each outcome in another, only while it still holds
the lease. A pass killed before the server accepted an email leaves its lease to run out, and the receipt is claimed
again. One killed in the instant between the server's acceptance and the record sends it twice: no protocol can
close that gap with a mail server; the Message-ID is the receipt's own on every attempt, so the copy is recognisable.

A temporary failure (the server unreachable or timing out, a 4xx answer, refused credentials or sender: the
operator's to fix) is retried with exponential backoff for :data:`RETRY_WINDOW`; a recipient or message the server
refuses for good (5xx) fails the receipt at once, as waiting won't change it.

``smtp://`` connects in plain text and upgrades with STARTTLS whenever the server offers it (``?starttls=required``:
refuse to send without it); ``smtps://`` speaks TLS from the start (port 465). The password is only handed to the
SMTP client: it is never logged, and an error's text is scrubbed of it before it is logged or stored.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Final
from urllib.parse import unquote, urlsplit

import aiosmtplib
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core import clock
from checkstand.core.ids import new_id
from checkstand.db import Database
from checkstand.receipts import content
from checkstand.receipts.models import FAILED, PENDING, SENT, ReceiptEmail
from checkstand.settings import Settings
from checkstand.webhooks.delivery import RetryPolicy, backoff

logger = logging.getLogger(__name__)

SMTP_TIMEOUT_SECONDS: Final = 30.0
# Longer than any one send can take (connect, TLS, login, data, each bounded by the timeout), so a live pass never
# loses a receipt it is sending to another.
LEASE: Final = timedelta(minutes=5)
BATCH: Final = 20
RETRY: Final = RetryPolicy(base=timedelta(minutes=1), max_delay=timedelta(hours=1), window=timedelta(days=3))
RETRY_WINDOW: Final = RETRY.window
# Not for secrets: jitter only has to differ between receipts.
_random = secrets.SystemRandom()


@dataclass(frozen=True)
class SmtpServer:
    """``CHECKSTAND_SMTP_URL`` taken apart; its repr leaves the password out."""

    hostname: str
    port: int
    username: str | None
    password: str | None = field(repr=False)
    implicit_tls: bool
    require_starttls: bool

    @classmethod
    def of(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        implicit_tls = parts.scheme == "smtps"
        return cls(
            hostname=parts.hostname or "localhost",
            port=parts.port or (465 if implicit_tls else 587),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=implicit_tls,
            require_starttls=parts.query == "starttls=required",
        )

    def scrub(self, text: str) -> str:
        """``text`` without the password, in case a server or library echoed it."""
        return text.replace(self.password, "[password]") if self.password else text


@dataclass(frozen=True)
class Outbound:
    """A claimed receipt, rendered: sending needs no database."""

    receipt_id: str
    attempt: int
    retrying_since: datetime | None
    email: EmailMessage


@dataclass(frozen=True)
class Outcome:
    sent: bool
    permanent: bool
    error: str | None


async def claim(session: AsyncSession, *, token: str, limit: int) -> list[ReceiptEmail]:
    """Take up to ``limit`` due receipts in ``token``'s name until the lease has run out."""
    now = clock.now()
    rows = list(
        await session.scalars(
            select(ReceiptEmail)
            .where(
                ReceiptEmail.status == PENDING,
                ReceiptEmail.next_attempt_at <= now,
                or_(ReceiptEmail.locked_until.is_(None), ReceiptEmail.locked_until <= now),
            )
            .order_by(ReceiptEmail.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if rows:
        await session.execute(
            update(ReceiptEmail)
            .where(ReceiptEmail.id.in_([row.id for row in rows]))
            .values(locked_until=now + LEASE, locked_by=token)
            .execution_options(synchronize_session=False)
        )
    return rows


async def render(session: AsyncSession, claimed: Sequence[ReceiptEmail], sender: str) -> list[Outbound]:
    """Each claimed receipt as its email. One that can't be rendered stays claimed and is tried after its lease."""
    outbound = []
    for receipt in claimed:
        try:
            said = await content.read_receipt(session, receipt)
        except Exception:
            logger.exception("could not render receipt %s; tried again after its lease", receipt.id)
            continue
        email = content.message(
            said, receipt_id=receipt.id, sender=sender, recipient=receipt.recipient, sent_at=clock.now()
        )
        outbound.append(Outbound(receipt.id, receipt.attempt_count + 1, receipt.retrying_since, email))
    return outbound


async def send(server: SmtpServer, email: EmailMessage) -> Outcome:
    try:
        await aiosmtplib.send(
            email,
            hostname=server.hostname,
            port=server.port,
            username=server.username,
            password=server.password,
            use_tls=server.implicit_tls,
            start_tls=True if server.require_starttls else None,
            timeout=SMTP_TIMEOUT_SECONDS,
        )
    except (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPDataError) as exc:
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
            codes = [refused.code for refused in exc.recipients]
        else:
            codes = [exc.code]
        permanent = bool(codes) and all(code >= 500 for code in codes)
        return Outcome(False, permanent, server.scrub(f"{type(exc).__name__}: {exc}")[:500])
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        return Outcome(False, False, server.scrub(f"{type(exc).__name__}: {exc}")[:500])
    return Outcome(True, False, None)


async def record(session: AsyncSession, job: Outbound, outcome: Outcome, *, token: str) -> str | None:
    """The receipt's new status after this attempt, or None when its lease was taken over (it was presumed dead)."""
    now = clock.now()
    values: dict[str, object] = {
        "attempt_count": job.attempt,
        "last_error": outcome.error,
        "locked_until": None,
        "locked_by": None,
    }
    if outcome.sent:
        values.update(status=SENT, sent_at=now, next_attempt_at=None, retrying_since=None)
    else:
        since = job.retrying_since or now
        retry_at = now + backoff(job.attempt, RETRY, _random.random())
        if outcome.permanent or retry_at > since + RETRY_WINDOW:
            values.update(status=FAILED, next_attempt_at=None)
        else:
            values.update(status=PENDING, next_attempt_at=retry_at, retrying_since=since)
    done = await session.execute(
        update(ReceiptEmail)
        .where(ReceiptEmail.id == job.receipt_id, ReceiptEmail.locked_by == token)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return str(values["status"]) if getattr(done, "rowcount", 0) else None


async def send_due(database: Database, settings: Settings) -> int:
    """One pass: every receipt due now, a batch at a time; returns how many were attempted."""
    if settings.smtp_url is None or settings.smtp_from is None:
        return 0
    server = SmtpServer.of(settings.smtp_url.get_secret_value())
    token = new_id("rcptw")
    async with database.writing() as session:
        claimed = await claim(session, token=token, limit=BATCH)
        await session.commit()
    if not claimed:
        return 0
    async with database.reading() as session:
        outbound = await render(session, claimed, settings.smtp_from)
    for job in outbound:
        outcome = await send(server, job.email)
        async with database.writing() as session:
            status = await record(session, job, outcome, token=token)
            await session.commit()
        if outcome.error is not None:
            logger.warning(
                "receipt %s (attempt %d) to SMTP server %s:%d failed: %s; %s",
                job.receipt_id,
                job.attempt,
                server.hostname,
                server.port,
                outcome.error,
                {PENDING: "retried later", FAILED: "given up"}.get(status or "", "lease lost, not recorded"),
            )
    return len(claimed)
