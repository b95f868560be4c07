"""Refusing to start with the wrong key, before it seals a secret nobody else can open.

Without the check, a second process on the same database that was not given ``CHECKSTAND_SECRET_KEY`` would
generate a key of its own and seal secrets that every other process fails to open later. The first process to start
records the key's check value; every later one compares. During a rotation the previous key is accepted too, until
``checkstand secret-key rotate`` records the new one.
"""

from __future__ import annotations

import hmac
from typing import Final

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core.crypto import key_check_value
from checkstand.secret_key.models import SecretKeyCheck

ROW_ID: Final = 1


class SecretKeyMismatch(Exception):
    """This process holds another key than the one the database's secrets are sealed with."""


async def verify(session: AsyncSession, secret_key: str, *previous_keys: str) -> None:
    """Record the key's check value on first use; raise :class:`SecretKeyMismatch` if the database was set up with
    another key than ``secret_key`` (or one of ``previous_keys``, during a rotation). The caller commits."""
    stored = await session.get(SecretKeyCheck, ROW_ID)
    if stored is None:
        try:
            async with session.begin_nested():
                session.add(SecretKeyCheck(id=ROW_ID, check_value=key_check_value(secret_key)))
            return
        except IntegrityError:
            # Another process started at the same moment and recorded its key first: compare with that one.
            stored = await session.get(SecretKeyCheck, ROW_ID, populate_existing=True)
            assert stored is not None
    if not any(hmac.compare_digest(stored.check_value, key_check_value(key)) for key in (secret_key, *previous_keys)):
        raise SecretKeyMismatch(
            "CHECKSTAND_SECRET_KEY is not the key this database's secrets are sealed with. Give every Checkstand "
            "process on this database the same key (a process started without one generates its own into "
            "CHECKSTAND_DATA_DIR/secret.key); to change it, see `checkstand secret-key rotate --help`."
        )


async def record(session: AsyncSession, secret_key: str) -> None:
    """After a rotation: the database's secrets are now sealed with ``secret_key``."""
    stored = await session.get(SecretKeyCheck, ROW_ID)
    if stored is None:
        session.add(SecretKeyCheck(id=ROW_ID, check_value=key_check_value(secret_key)))
    else:
        stored.check_value = key_check_value(secret_key)
    await session.flush()
