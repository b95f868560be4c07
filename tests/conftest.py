"""Fixtures: every database test runs on SQLite and on the local PostgreSQL, each test on a clean database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand import migrations
from checkstand.app import create_app
from checkstand.core import clock
from checkstand.core.clock import FrozenClock
from checkstand.db import Database
from checkstand.settings import Settings
from checkstand.tables import Base
from tests import support

pytest_plugins = ["tests.shop", "tests.localstripe"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return support.migrated_sqlite_template(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated database that per-test databases are truncated back to, or cloned from."""
    name = support.unique_name("cs_tmpl")
    url = support.create_postgres_database(name)
    migrations.upgrade(support.async_url(url))
    yield name
    support.drop_postgres_database(name)


@pytest.fixture(scope="session")
def postgres_shared() -> Iterator[str]:
    """One migrated database for in-process tests, truncated before each test (faster than cloning)."""
    name = support.unique_name("cs_test")
    url = support.create_postgres_database(name)
    migrations.upgrade(support.async_url(url))
    yield url
    support.drop_postgres_database(name)


@pytest.fixture(params=support.BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A clean, migrated database of the test's backend (a plain URL, as an operator would write it)."""
    if backend == "sqlite":
        return support.copy_sqlite(request.getfixturevalue("sqlite_template"), tmp_path / "test.sqlite")
    url: str = request.getfixturevalue("postgres_shared")
    return url


@pytest.fixture
async def database(database_url: str, backend: str) -> AsyncIterator[Database]:
    db = support.connect_url(database_url)
    if backend == "postgresql":
        # DELETE, child tables first: on tables this small it is far quicker than TRUNCATE, which rewrites files.
        async with db.writing() as session:
            existing = set(
                (await session.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))).all()
            )
            for table in reversed(Base.metadata.sorted_tables):
                if table.name in existing:
                    await session.execute(table.delete())
            await session.commit()
    yield db
    await db.dispose()


@pytest.fixture
async def session(database: Database) -> AsyncIterator[AsyncSession]:
    """A writing session; the test commits when it wants a later step to see its rows."""
    async with database.writing() as db_session:
        yield db_session


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Webhook receivers and localstripe in tests listen on 127.0.0.1, which an operator must allow explicitly (the
    default refuses private addresses): tests of that refusal build their own settings."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        public_url="http://checkstand.test",
        webhook_allow_private_urls=True,
        processor_allow_private_urls=True,
    )


@pytest.fixture
async def client(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The app in process, over ASGI (no socket): for API tests that don't need a real server."""
    app = create_app(settings, database=database)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://checkstand.test") as http:
        yield http


@pytest.fixture
def frozen_clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock()
    previous = clock.use(frozen)
    yield frozen
    clock.use(previous)


@pytest.fixture(scope="session", params=support.BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Server]:
    """A real ``checkstand serve`` on a free port, one per backend for the whole run (tests make own accounts)."""
    data_dir = tmp_path_factory.mktemp(f"server-{request.param}")
    if request.param == "sqlite":
        with support.run_server(data_dir, support.sqlite_url(data_dir / "checkstand.db")) as running:
            yield running
        return
    name = support.unique_name("cs_srv")
    url = support.create_postgres_database(name, template=request.getfixturevalue("postgres_template"))
    try:
        with support.run_server(data_dir, url) as running:
            yield running
    finally:
        support.drop_postgres_database(name)


@pytest.fixture
async def merchant(session: AsyncSession) -> tuple[str, str]:
    """A committed account and its secret key: ``(account_id, secret)``."""
    from checkstand.accounts import service as accounts

    account = await accounts.create_account(session, name="Merchant")
    issued = await accounts.create_api_key(session, account)
    await session.commit()
    return account.id, issued.secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}
