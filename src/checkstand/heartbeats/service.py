"""Recording and reading workers' heartbeats."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core import clock
from checkstand.heartbeats.models import WorkerHeartbeat

# A dead worker's row stays this long: /metrics shows its age growing (an alert's cue), then it is purged.
RETENTION: Final = timedelta(hours=24)


async def beat(session: AsyncSession, worker_id: str, *, hostname: str, pid: int, started_at: datetime) -> None:
    """Record that the worker is alive now. Only the worker writes its own row, so no other writer races it."""
    row = await session.get(WorkerHeartbeat, worker_id)
    if row is None:
        session.add(
            WorkerHeartbeat(
                worker_id=worker_id, hostname=hostname[:255], pid=pid, started_at=started_at, beat_at=clock.now()
            )
        )
    else:
        row.beat_at = clock.now()
    await session.flush()


async def forget(session: AsyncSession, worker_id: str) -> None:
    """A worker that stops cleanly leaves no heartbeat to go stale."""
    await session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.worker_id == worker_id))


async def purge_stale(session: AsyncSession) -> int:
    """A periodic job: forget workers silent for longer than :data:`RETENTION`."""
    result = await session.execute(
        delete(WorkerHeartbeat)
        .where(WorkerHeartbeat.beat_at < clock.now() - RETENTION)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def all_heartbeats(session: AsyncSession) -> Sequence[WorkerHeartbeat]:
    return (await session.scalars(select(WorkerHeartbeat).order_by(WorkerHeartbeat.worker_id))).all()


async def latest_beat(session: AsyncSession) -> datetime | None:
    """When the most recently alive worker last said so; None when no worker ever did."""
    latest: datetime | None = await session.scalar(select(func.max(WorkerHeartbeat.beat_at)))
    return None if latest is None else clock.as_utc(latest)
