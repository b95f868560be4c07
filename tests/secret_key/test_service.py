"""The database remembers which key seals its secrets (as a check value, never the key) and refuses another."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core.crypto import key_check_value
from checkstand.secret_key import service as key_check
from checkstand.secret_key.models import SecretKeyCheck

KEY = "k" * 32
OTHER = "o" * 32


async def test_the_first_start_records_the_keys_check_value(session: AsyncSession) -> None:
    await key_check.verify(session, KEY)
    stored = (await session.scalars(select(SecretKeyCheck))).one()
    assert stored.check_value == key_check_value(KEY)
    assert KEY not in stored.check_value
    await key_check.verify(session, KEY)  # the same key again: fine


async def test_another_key_is_refused(session: AsyncSession) -> None:
    await key_check.verify(session, KEY)
    with pytest.raises(key_check.SecretKeyMismatch, match="CHECKSTAND_SECRET_KEY"):
        await key_check.verify(session, OTHER)


async def test_during_a_rotation_the_previous_key_is_accepted_until_the_new_one_is_recorded(
    session: AsyncSession,
) -> None:
    await key_check.verify(session, KEY)
    await key_check.verify(session, OTHER, KEY)
    await key_check.record(session, OTHER)
    await key_check.verify(session, OTHER)
    with pytest.raises(key_check.SecretKeyMismatch):
        await key_check.verify(session, KEY)
