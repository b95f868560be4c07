"""Dashboard users: creation, password checks, and one-time sign-in links.

Passwords are hashed with Argon2id (argon2-cffi's defaults, RFC 9106's low-memory profile); a check against an
unknown email still hashes once, against a dummy, so the answer's timing tells nothing about which emails exist."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.core import clock
from checkstand.core.errors import Conflict, InvalidFields
from checkstand.core.ids import hash_secret, new_id, new_secret
from checkstand.dashboard.models import DashboardUser, SignInLink

MAX_EMAIL_LENGTH: Final = 254
MIN_PASSWORD_LENGTH: Final = 12
# Argon2 hashes whatever it is given; past this, a "password" is an attempt to make the server work.
MAX_PASSWORD_LENGTH: Final = 1024
SIGN_IN_LINK_LIFETIME: Final = timedelta(minutes=30)
SIGN_IN_LINK_PREFIX: Final = "dsl"
# A reserved domain (RFC 2606): nobody's inbox, and no one can create a user with it by mistake.
DEMO_USER_EMAIL: Final = "demo@checkstand.invalid"

_hasher: Final = PasswordHasher()


@cache
def _dummy_hash() -> str:
    return _hasher.hash("checkstand: no such user")


@dataclass(frozen=True)
class IssuedLink:
    """A sign-in link's token, at the only moment it exists outside the browser that uses it."""

    user: DashboardUser
    token: str


def normalized_email(email: str) -> str:
    return email.strip().lower()


async def create_user(session: AsyncSession, account_id: str, *, email: str, password: str | None) -> DashboardUser:
    """A user of ``account_id``; ``password`` None makes one who signs in only with a link."""
    await accounts.get_account(session, account_id)
    try:
        address = validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as invalid:
        raise InvalidFields.one(("email",), str(invalid)) from None
    if password is not None:
        check_password(password)
    if await find_user(session, address) is not None:
        raise Conflict(f"A dashboard user with the email {address} exists already.", code="user_exists")
    user = DashboardUser(
        id=new_id("usr"),
        account_id=account_id,
        email=address,
        password_hash=None if password is None else _hasher.hash(password),
    )
    session.add(user)
    await session.flush()
    return user


def check_password(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidFields.one(
            ("password",), f"must be between {MIN_PASSWORD_LENGTH} and {MAX_PASSWORD_LENGTH} characters"
        )


async def find_user(session: AsyncSession, email: str) -> DashboardUser | None:
    return await session.scalar(select(DashboardUser).where(DashboardUser.email == normalized_email(email)))


async def authenticate(session: AsyncSession, email: str, password: str) -> DashboardUser | None:
    """The user these credentials name, or None, whichever part was wrong (the caller tells them apart to nobody)."""
    user = await find_user(session, email) if len(email) <= MAX_EMAIL_LENGTH else None
    stored = user.password_hash if user is not None else None
    # Argon2 takes tens of milliseconds on purpose: on a thread, so other requests go on meanwhile.
    if not await asyncio.to_thread(_verify, stored or _dummy_hash(), password[:MAX_PASSWORD_LENGTH]):
        return None
    if user is None or stored is None:
        return None
    if _hasher.check_needs_rehash(stored):
        user.password_hash = _hasher.hash(password)
    return user


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


async def issue_sign_in_link(session: AsyncSession, user: DashboardUser) -> IssuedLink:
    token = new_secret(SIGN_IN_LINK_PREFIX)
    session.add(
        SignInLink(token_hash=hash_secret(token), user_id=user.id, expires_at=clock.now() + SIGN_IN_LINK_LIFETIME)
    )
    await session.flush()
    return IssuedLink(user, token)


async def redeem_sign_in_link(session: AsyncSession, token: str) -> DashboardUser | None:
    """The link's user, once: the link is deleted whether or not it is still valid."""
    link = await session.scalar(
        delete(SignInLink).where(SignInLink.token_hash == hash_secret(token)).returning(SignInLink)
    )
    if link is None or link.expires_at <= clock.now():
        return None
    return await session.get(DashboardUser, link.user_id)


async def ensure_demo_user(session: AsyncSession, account_id: str) -> DashboardUser:
    """The demo account's own user (no password: it signs in with the link the first start prints)."""
    existing = await find_user(session, DEMO_USER_EMAIL)
    if existing is not None:
        return existing
    # Not through create_user: its address check refuses the reserved domain, which is the point here.
    user = DashboardUser(id=new_id("usr"), account_id=account_id, email=DEMO_USER_EMAIL, password_hash=None)
    session.add(user)
    await session.flush()
    return user
