"""Probes for an orchestrator: ``/healthz`` (the process answers: restart it if not) and ``/readyz`` (it can do its
job: send it traffic only if so).

Ready means the database answers, its schema is at the revision this code was written for (``app.state.schema_head``),
and some worker, on any process, recorded a heartbeat within ``CHECKSTAND_WORKER_STALE_SECONDS``: without one, no
webhook leaves and no session expires. A 503 lists what is wrong.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, Final

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from checkstand.api.http.unit_of_work import Session
from checkstand.core import clock
from checkstand.db import schema_revision
from checkstand.heartbeats import service as heartbeats
from checkstand.settings import Settings

DATABASE_TIMEOUT_SECONDS: Final = 5.0


async def healthz() -> dict[str, str]:
    """Alive: answers without touching the database, so a database outage doesn't get every process restarted."""
    return {"status": "ok"}


async def readyz(request: Request, session: Session) -> JSONResponse:
    """Ready to serve: the database answers, its schema is current and a worker is alive."""
    settings: Settings = request.app.state.settings
    checks: dict[str, Any] = {}
    problems: list[str] = []
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT_SECONDS):
            await session.execute(text("SELECT 1"))
            revision = await session.run_sync(lambda sync: schema_revision(sync.connection()))
            latest = await heartbeats.latest_beat(session)
    except Exception as error:
        checks["database"] = "unreachable"
        problems.append(f"database unreachable: {type(error).__name__}")
        return _answer(checks, problems)
    checks["database"] = "ok"
    expected = request.app.state.schema_head
    checks["schema"] = revision
    if revision != expected:
        problems.append(f"database schema is at {revision or 'nothing'}, expected {expected}: run `checkstand migrate`")
    stale_after = timedelta(seconds=settings.worker_stale_seconds)
    age = None if latest is None else clock.now() - latest
    checks["worker_heartbeat_age_seconds"] = None if age is None else round(age.total_seconds(), 1)
    if age is None or age > stale_after:
        problems.append(
            f"no worker heartbeat in the last {settings.worker_stale_seconds:g} s: start `checkstand worker`"
        )
    return _answer(checks, problems)


def _answer(checks: dict[str, Any], problems: list[str]) -> JSONResponse:
    status = "unready" if problems else "ready"
    return JSONResponse(
        {"status": status, "checks": checks, "problems": problems}, status_code=503 if problems else 200
    )
