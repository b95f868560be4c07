"""The worker forgets dashboard sign-in data nothing can use any more: sessions idle too long or past their expiry,
expired sign-in links and failed sign-ins the throttle's window has left behind. Live ones stay."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core import clock
from checkstand.core.clock import FrozenClock
from checkstand.dashboard import signin, users
from checkstand.dashboard.models import DashboardSession, SignInFailure, SignInLink
from checkstand.db import Database
from checkstand.settings import Settings
from checkstand.worker import jobs
from tests import support
from tests.dashboard.helpers import make_user


async def _session_hashes(session: AsyncSession) -> set[str]:
    return set((await session.scalars(select(DashboardSession.token_hash))).all())


async def test_expired_sessions_links_and_old_failures_go_and_live_ones_stay(
    session: AsyncSession, frozen_clock: FrozenClock, settings: Settings
) -> None:
    # Two users: a sign-in ends the user's own expired sessions itself, and the purge is for the ones nobody ends.
    first = await users.find_user(session, (await make_user(session)).email)
    second = await users.find_user(session, (await make_user(session, "second@shop.example", "Other")).email)
    assert first is not None
    assert second is not None
    idle = await signin.start_session(session, first, replacing=None)
    await users.issue_sign_in_link(session, first)
    await signin.record_failure(session, "someone@shop.example", "203.0.113.9")

    frozen_clock.advance(signin.IDLE_TIMEOUT - timedelta(minutes=1))
    live = await signin.start_session(session, second, replacing=None)
    # Another email and address: a failure forgets its own email's and address's old ones itself.
    await signin.record_failure(session, "other@shop.example", "203.0.113.10")
    # Past the idle limit for the first session only; the first failure has left the throttle's window.
    frozen_clock.advance(timedelta(minutes=2))
    # Kept alive by use until it passes its absolute expiry below.
    used = await signin.start_session(session, second, replacing=None)
    await session.commit()

    purge = jobs(settings)["purge_dashboard_sign_ins"]
    # The first session, the 30-minute link and the first failure.
    assert await purge(session) == 3
    await session.commit()
    assert await _session_hashes(session) == {live.signed_in.token_hash, used.signed_in.token_hash}
    assert await session.scalar(select(SignInLink.token_hash)) is None
    failures = (await session.scalars(select(SignInFailure.created_at))).all()
    assert [clock.as_utc(moment) for moment in failures] == [clock.now() - timedelta(minutes=2)]
    assert await signin.find_session(session, idle.token) is None
    assert await signin.find_session(session, live.token) is not None
    assert await purge(session) == 0

    # A session in use every hour still ends at its absolute expiry, and then goes too.
    for _ in range(int(signin.ABSOLUTE_TIMEOUT / timedelta(hours=1))):
        frozen_clock.advance(timedelta(hours=1))
        await signin.touch(session, used.signed_in)
    await session.commit()
    # The unused "live" session went idle long ago, the used one has just expired, and the second failure is old.
    assert await purge(session) == 3
    assert await _session_hashes(session) == set()
    assert await session.scalar(select(SignInFailure.id)) is None
    assert await purge(session) == 0


async def test_a_backlog_goes_in_batches(
    session: AsyncSession, frozen_clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(signin, "PURGE_BATCH", 2)
    for attempt in range(5):
        await signin.record_failure(session, f"guess{attempt}@shop.example", f"198.51.100.{attempt}")
    frozen_clock.advance(signin.THROTTLE_WINDOW)
    await signin.record_failure(session, "recent@shop.example", "198.51.100.200")
    await session.commit()
    assert [await signin.purge_expired(session) for _ in range(4)] == [2, 2, 1, 0]
    assert (await session.scalars(select(SignInFailure.email))).all() == ["recent@shop.example"]


async def test_workers_side_by_side_purge_each_row_once(
    database_url: str, session: AsyncSession, frozen_clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the batches are claimed with SKIP LOCKED: workers racing share the backlog, none counts a row
    another deleted. Each worker has its own engine, as separate processes would."""
    monkeypatch.setattr(signin, "PURGE_BATCH", 25)
    for attempt in range(300):
        await signin.record_failure(session, f"guess{attempt}@shop.example", f"198.51.{attempt // 250}.{attempt % 250}")
    await session.commit()
    frozen_clock.advance(signin.THROTTLE_WINDOW)
    databases = [support.connect_url(database_url) for _ in range(4)]

    async def sweep(database: Database) -> int:
        total = 0
        while True:
            async with database.writing() as own:
                done = await signin.purge_expired(own)
                await own.commit()
            if not done:
                return total
            total += done

    try:
        swept = await asyncio.gather(*(sweep(database) for database in databases))
    finally:
        for database in databases:
            await database.dispose()
    assert sum(swept) == 300
    assert await session.scalar(select(SignInFailure.id)) is None
