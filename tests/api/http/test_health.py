"""``/healthz`` answers without the database; ``/readyz`` says what keeps the service from working."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text

from checkstand import migrations
from checkstand.app import create_app
from checkstand.core.clock import FrozenClock
from checkstand.db import Database, connect
from checkstand.settings import Settings
from checkstand.worker import Worker


async def test_healthz_needs_no_database(settings: Settings) -> None:
    unreachable = connect("postgresql+asyncpg://nobody@127.0.0.1:9/none")
    app = create_app(settings, database=unreachable)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        ready = await http.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "unreachable"
    assert ready.json()["problems"][0].startswith("database unreachable")
    await unreachable.dispose()


async def test_ready_once_a_worker_beats(
    client: httpx.AsyncClient, database: Database, settings: Settings, frozen_clock: FrozenClock
) -> None:
    waiting = await client.get("/readyz")
    assert waiting.status_code == 503
    assert waiting.json()["problems"] == [
        f"no worker heartbeat in the last {settings.worker_stale_seconds:g} s: start `checkstand worker`"
    ]
    await Worker(database, settings).beat()
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.json()
    assert ready.json()["status"] == "ready"
    assert ready.json()["checks"]["worker_heartbeat_age_seconds"] == 0

    frozen_clock.advance(timedelta(seconds=settings.worker_stale_seconds + 1))
    stale = await client.get("/readyz")
    assert stale.status_code == 503
    assert "no worker heartbeat" in stale.json()["problems"][0]


@pytest.fixture
async def behind(database: Database) -> AsyncIterator[None]:
    """The database one migration behind the code, as after deploying new code without ``checkstand migrate``."""
    async with database.writing() as session:
        head = await session.scalar(text("SELECT version_num FROM alembic_version"))
        await session.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        await session.commit()
    yield
    async with database.writing() as session:
        await session.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head})
        await session.commit()


async def test_not_ready_on_an_old_schema(
    client: httpx.AsyncClient, database: Database, settings: Settings, behind: None
) -> None:
    await Worker(database, settings).beat()
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["schema"] == "0001"
    assert response.json()["problems"] == [
        f"database schema is at 0001, expected {migrations.head_revision()}: run `checkstand migrate`"
    ]
