"""Workers' heartbeats: one row per worker, moved on by its beats, gone when it stops or has long been silent."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core import clock
from checkstand.core.clock import FrozenClock
from checkstand.db import Database
from checkstand.heartbeats import service as heartbeats
from checkstand.settings import Settings
from checkstand.worker import Worker


async def test_a_beat_moves_the_workers_row_on(session: AsyncSession, frozen_clock: FrozenClock) -> None:
    started = clock.now()
    assert await heartbeats.latest_beat(session) is None
    await heartbeats.beat(session, "wkr_a", hostname="host-a", pid=1, started_at=started)
    frozen_clock.advance(timedelta(seconds=5))
    await heartbeats.beat(session, "wkr_a", hostname="host-a", pid=1, started_at=started)
    (row,) = await heartbeats.all_heartbeats(session)
    assert (row.worker_id, row.started_at, row.beat_at) == ("wkr_a", started, clock.now())
    assert await heartbeats.latest_beat(session) == clock.now()


async def test_silent_workers_are_purged(session: AsyncSession, frozen_clock: FrozenClock) -> None:
    await heartbeats.beat(session, "wkr_old", hostname="h", pid=1, started_at=clock.now())
    frozen_clock.advance(heartbeats.RETENTION)
    await heartbeats.beat(session, "wkr_new", hostname="h", pid=2, started_at=clock.now())
    assert await heartbeats.purge_stale(session) == 0
    frozen_clock.advance(timedelta(seconds=1))
    assert await heartbeats.purge_stale(session) == 1
    assert [row.worker_id for row in await heartbeats.all_heartbeats(session)] == ["wkr_new"]


async def test_a_worker_beats_each_round_and_forgets_itself_on_stop(database: Database, settings: Settings) -> None:
    worker = Worker(database, settings.model_copy(update={"worker_poll_seconds": 0.05}))
    await worker.run_once()
    async with database.reading() as session:
        assert [row.worker_id for row in await heartbeats.all_heartbeats(session)] == [worker.id]
    worker.stop()
    await worker.run()
    async with database.reading() as session:
        assert await heartbeats.all_heartbeats(session) == []
