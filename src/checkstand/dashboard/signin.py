"""Sign-in sessions and the throttle on failed sign-ins.

A session is a random 256-bit token in the browser's cookie and its SHA-256 digest here: a copy of this table signs
no one in. Each sign-in makes a new token (a token planted before sign-in is never promoted: no session fixation)
and ends the one the browser held. A session ends when idle for :data:`IDLE_TIMEOUT`, at :data:`ABSOLUTE_TIMEOUT`
after sign-in whatever its use, or at sign-out. Failed sign-ins are counted per email and per client address over
:data:`THROTTLE_WINDOW`; past either limit every attempt is refused, right or wrong, until the window moves on."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core import clock
from checkstand.core.ids import hash_secret, new_id, new_secret
from checkstand.dashboard.models import DashboardSession, DashboardUser, SignInFailure, SignInLink

IDLE_TIMEOUT: Final = timedelta(hours=12)
ABSOLUTE_TIMEOUT: Final = timedelta(days=7)
# last_seen_at is written at most this often: a page view is a read, not a write per request.
TOUCH_EVERY: Final = timedelta(minutes=1)
THROTTLE_WINDOW: Final = timedelta(minutes=15)
MAX_FAILURES_PER_EMAIL: Final = 5
# Higher: several people behind one office's address may mistype.
MAX_FAILURES_PER_IP: Final = 20
SESSION_TOKEN_PREFIX: Final = "dss"  # noqa: S105 - a prefix, not a secret
MAX_TOKEN_LENGTH: Final = 100
# Rows a purge deletes per transaction: the worker calls it again at once while it finds some, so a backlog goes in
# short transactions rather than one long lock.
PURGE_BATCH: Final = 500


@dataclass(frozen=True)
class SignedIn:
    """Who a request is from: what every dashboard view is given (never the token itself)."""

    token_hash: str
    user_id: str
    account_id: str
    email: str
    csrf_token: str
    last_seen_at: datetime


@dataclass(frozen=True)
class StartedSession:
    token: str
    signed_in: SignedIn


async def throttled(session: AsyncSession, email: str, client_ip: str) -> bool:
    since = clock.now() - THROTTLE_WINDOW
    by_email = await session.scalar(
        select(func.count()).where(SignInFailure.email == email, SignInFailure.created_at > since)
    )
    if (by_email or 0) >= MAX_FAILURES_PER_EMAIL:
        return True
    by_ip = await session.scalar(
        select(func.count()).where(SignInFailure.client_ip == client_ip, SignInFailure.created_at > since)
    )
    return (by_ip or 0) >= MAX_FAILURES_PER_IP


async def record_failure(session: AsyncSession, email: str, client_ip: str) -> None:
    """Counts one failure, and forgets this email's and address's failures the window has left behind."""
    now = clock.now()
    await session.execute(
        delete(SignInFailure).where(
            or_(SignInFailure.email == email, SignInFailure.client_ip == client_ip),
            SignInFailure.created_at <= now - THROTTLE_WINDOW,
        )
    )
    session.add(SignInFailure(id=new_id("sif"), email=email, client_ip=client_ip, created_at=now))
    await session.flush()


async def start_session(session: AsyncSession, user: DashboardUser, *, replacing: str | None) -> StartedSession:
    """A new session for ``user``; the browser's previous one (``replacing``, its cookie) and the user's expired
    ones end here."""
    now = clock.now()
    if replacing is not None:
        await end_session(session, replacing)
    await session.execute(
        delete(DashboardSession).where(
            DashboardSession.user_id == user.id,
            or_(DashboardSession.expires_at <= now, DashboardSession.last_seen_at <= now - IDLE_TIMEOUT),
        )
    )
    token = new_secret(SESSION_TOKEN_PREFIX)
    row = DashboardSession(
        token_hash=hash_secret(token),
        user_id=user.id,
        account_id=user.account_id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + ABSOLUTE_TIMEOUT,
    )
    session.add(row)
    user.last_signed_in_at = now
    await session.flush()
    return StartedSession(token, _signed_in(row, user))


async def find_session(session: AsyncSession, token: str) -> SignedIn | None:
    """The live session this cookie holds, or None (unknown, idle too long, or past its absolute expiry)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    found = (
        await session.execute(
            select(DashboardSession, DashboardUser)
            .join(DashboardUser, DashboardUser.id == DashboardSession.user_id)
            .where(DashboardSession.token_hash == hash_secret(token))
        )
    ).first()
    if found is None:
        return None
    row, user = found
    now = clock.now()
    if row.expires_at <= now or row.last_seen_at <= now - IDLE_TIMEOUT:
        return None
    return _signed_in(row, user)


def needs_touch(signed_in: SignedIn) -> bool:
    return signed_in.last_seen_at <= clock.now() - TOUCH_EVERY


async def touch(session: AsyncSession, signed_in: SignedIn) -> None:
    await session.execute(
        update(DashboardSession)
        .where(DashboardSession.token_hash == signed_in.token_hash)
        .values(last_seen_at=clock.now())
    )


async def end_session(session: AsyncSession, token: str) -> None:
    if token and len(token) <= MAX_TOKEN_LENGTH:
        await session.execute(delete(DashboardSession).where(DashboardSession.token_hash == hash_secret(token)))


async def purge_expired(session: AsyncSession) -> int:
    """A periodic job: forget sessions that can sign no one in any more (idle too long or past their expiry),
    sign-in links past their expiry, and failures the throttle's window has left behind, at most
    :data:`PURGE_BATCH` of each per call. Without it, a user who never signs in again leaves their rows forever."""
    now = clock.now()
    dead_sessions = (
        select(DashboardSession.token_hash)
        .where(or_(DashboardSession.expires_at <= now, DashboardSession.last_seen_at <= now - IDLE_TIMEOUT))
        .limit(PURGE_BATCH)
        .with_for_update(skip_locked=True)
    )
    dead_links = (
        select(SignInLink.token_hash)
        .where(SignInLink.expires_at <= now)
        .limit(PURGE_BATCH)
        .with_for_update(skip_locked=True)
    )
    old_failures = (
        select(SignInFailure.id)
        .where(SignInFailure.created_at <= now - THROTTLE_WINDOW)
        .limit(PURGE_BATCH)
        .with_for_update(skip_locked=True)
    )
    purged = 0
    for model, key, query in (
        (DashboardSession, DashboardSession.token_hash, dead_sessions),
        (SignInLink, SignInLink.token_hash, dead_links),
        (SignInFailure, SignInFailure.id, old_failures),
    ):
        keys = (await session.scalars(query)).all()
        if keys:
            await session.execute(delete(model).where(key.in_(keys)).execution_options(synchronize_session=False))
        purged += len(keys)
    return purged


def _signed_in(row: DashboardSession, user: DashboardUser) -> SignedIn:
    return SignedIn(row.token_hash, user.id, row.account_id, user.email, row.csrf_token, row.last_seen_at)
