"""SQLite's writers in one process queue for the write lock in the order they ask (db.WriteQueue), and readers
never wait behind them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from checkstand.db import Database, WriteQueue, connect

WRITERS = 40


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = connect(f"sqlite+aiosqlite:///{tmp_path / 'queue.sqlite'}")
    async with db.engine.begin() as connection:
        await connection.execute(text("CREATE TABLE written (seq INTEGER PRIMARY KEY, writer TEXT NOT NULL)"))
    yield db
    await db.dispose()


def _writer() -> str:
    task = asyncio.current_task()
    assert task is not None
    return task.get_name()


async def test_concurrent_writers_all_succeed_in_the_order_they_asked(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = database.write_queue
    assert queue is not None
    log: list[tuple[str, str]] = []
    acquire = queue.acquire

    # A spy on the real queue: each writer's turn is recorded as it asks and as it gets the lock.
    async def recording_acquire() -> asyncio.Lock:
        log.append(("asked", _writer()))
        lock = await acquire()
        log.append(("acquired", _writer()))
        return lock

    def released(_dbapi_connection: Any, _record: Any) -> None:
        log.append(("released", _writer()))

    monkeypatch.setattr(queue, "acquire", recording_acquire)
    event.listen(database.engine.sync_engine.pool, "checkin", released)

    async def write() -> None:
        async with database.writing() as session:
            await session.execute(text("INSERT INTO written (writer) VALUES (:writer)"), {"writer": _writer()})
            # Hold the transaction across a few turns of the loop, so the others pile up behind it.
            for _ in range(3):
                await asyncio.sleep(0)
            await session.commit()

    await asyncio.gather(*(asyncio.create_task(write(), name=f"writer-{index:02}") for index in range(WRITERS)))

    asking = [writer for kind, writer in log if kind == "asked"]
    acquiring = [writer for kind, writer in log if kind == "acquired"]
    assert len(asking) == WRITERS
    assert acquiring == asking
    # One writer at a time: each gets the lock after the one before gave it back.
    assert [kind for kind, _ in log if kind != "asked"] == ["acquired", "released"] * WRITERS
    # They did queue: at some point several writers were waiting at once.
    waiting = most_waiting = 0
    for kind, _ in log:
        waiting += {"asked": 1, "acquired": -1}.get(kind, 0)
        most_waiting = max(most_waiting, waiting)
    assert most_waiting > 2
    async with database.reading() as session:
        committed = list(await session.scalars(text("SELECT writer FROM written ORDER BY seq")))
    assert committed == acquiring


async def test_a_reader_does_not_wait_behind_a_writer(database: Database) -> None:
    async with database.writing() as writing:
        await writing.execute(text("INSERT INTO written (writer) VALUES ('holding')"))
        # The write lock is held until this block ends; a reader sees the last committed state meanwhile.
        async with database.reading() as reading:
            seen = await asyncio.wait_for(reading.scalar(text("SELECT count(*) FROM written")), timeout=10)
        assert seen == 0
        await writing.commit()


async def test_a_writer_waiting_too_long_fails_rather_than_hangs() -> None:
    queue = WriteQueue(timeout_seconds=0.05)
    held = await queue.acquire()

    with pytest.raises(TimeoutError, match="write lock"):
        await queue.acquire()
    held.release()
    (await queue.acquire()).release()
