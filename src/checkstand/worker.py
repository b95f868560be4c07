"""The background worker: periodic jobs, each in a transaction of its own.

It runs inside ``checkstand serve`` (unless ``--no-worker``) or alone as ``checkstand worker``. Jobs keep no state in
process memory, so any number of workers can share one PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core import idempotency
from checkstand.db import Database
from checkstand.settings import Settings

logger = logging.getLogger(__name__)

Job = Callable[[AsyncSession], Awaitable[int]]


def jobs() -> dict[str, Job]:
    """Every periodic job by name; a job returns how much it did, and is called again at once if that was not 0."""
    return {"purge_idempotency_keys": idempotency.purge_expired}


class Worker:
    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Ask the loop to finish the job in hand and return."""
        self._stopping.set()

    async def run_once(self) -> dict[str, int]:
        done: dict[str, int] = {}
        for name, job in jobs().items():
            async with self.database.writing() as session:
                try:
                    done[name] = await job(session)
                    await session.commit()
                except Exception:
                    await session.rollback()
                    logger.exception("job %s failed; it runs again next round", name)
                    done[name] = 0
        return done

    async def run(self) -> None:
        logger.info("worker started")
        while not self._stopping.is_set():
            done = await self.run_once()
            if any(done.values()):
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.settings.worker_poll_seconds)
        logger.info("worker stopped")
