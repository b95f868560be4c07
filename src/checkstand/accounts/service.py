"""Accounts and API keys: creation, look-up by key, revocation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts.branding import update_brand_settings as update_brand_settings
from checkstand.accounts.models import Account, ApiKey
from checkstand.core import clock
from checkstand.core.errors import Conflict, NotFound
from checkstand.core.ids import hash_secret, new_id, new_secret

SECRET_KEY_PREFIX = "sk"  # noqa: S105 - a prefix, not a secret
PUBLISHABLE_KEY_PREFIX = "pk"
PREVIEW_LENGTH = 12
DEMO_ACCOUNT_NAME = "Demo Store"


@dataclass(frozen=True)
class IssuedKey:
    """A key just created: the only moment its secret exists outside the client."""

    key: ApiKey
    secret: str


async def create_account(session: AsyncSession, *, name: str, description: str | None = None) -> Account:
    account = Account(
        id=new_id("acct"),
        name=name,
        description=description,
        organization_id=new_id("org"),
        brand_settings={},
    )
    session.add(account)
    await session.flush()
    return account


async def get_account(session: AsyncSession, account_id: str) -> Account:
    account = await session.get(Account, account_id)
    if account is None:
        raise NotFound("account", account_id)
    return account


async def list_accounts(session: AsyncSession) -> Sequence[Account]:
    """Every account, newest first: for the operator's command line (the API shows a key its own account only)."""
    return (await session.scalars(select(Account).order_by(Account.created_at.desc(), Account.id.desc()))).all()


async def find_demo_account(session: AsyncSession) -> Account | None:
    return await session.scalar(select(Account).where(Account.is_demo.is_(True)).limit(1))


async def create_api_key(session: AsyncSession, account: Account, *, description: str | None = None) -> IssuedKey:
    secret = new_secret(SECRET_KEY_PREFIX)
    key = ApiKey(
        id=new_id("key"),
        account_id=account.id,
        description=description,
        secret_hash=hash_secret(secret),
        secret_token_preview=secret[:PREVIEW_LENGTH],
        publishable_token=new_secret(PUBLISHABLE_KEY_PREFIX),
        is_active=True,
    )
    session.add(key)
    await session.flush()
    return IssuedKey(key=key, secret=secret)


async def list_api_keys(session: AsyncSession, account_id: str) -> Sequence[ApiKey]:
    query = select(ApiKey).where(ApiKey.account_id == account_id).order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
    return (await session.scalars(query)).all()


async def revoke_api_key(session: AsyncSession, account_id: str, key_id: str) -> ApiKey:
    key = await session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.account_id == account_id))
    if key is None:
        raise NotFound("api_key", key_id)
    if not key.is_active:
        raise Conflict(f"API key {key_id!r} is already revoked.", code="api_key_revoked")
    key.is_active = False
    key.revoked_at = clock.now()
    await session.flush()
    return key


@dataclass(frozen=True)
class ActiveKey:
    """Who a live secret key acts for: all a request's authentication needs."""

    id: str
    account_id: str


# Built once: every API request runs it. Two columns on the unique hash index, no ORM object to track.
_ACTIVE_KEY = select(ApiKey.id, ApiKey.account_id).where(
    ApiKey.secret_hash == bindparam("secret_hash"),
    ApiKey.is_active.is_(True),
    or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > bindparam("now", type_=ApiKey.expires_at.type)),
)


async def find_active_key(session: AsyncSession, secret: str) -> ActiveKey | None:
    """The live key whose secret this is, if any. Read from the database on every request, never cached, so a
    revocation takes effect on the very next request on every process."""
    row = (await session.execute(_ACTIVE_KEY, {"secret_hash": hash_secret(secret), "now": clock.now()})).first()
    return None if row is None else ActiveKey(id=row.id, account_id=row.account_id)


async def is_publishable_key(session: AsyncSession, token: str) -> bool:
    return await session.scalar(select(ApiKey.id).where(ApiKey.publishable_token == token)) is not None
