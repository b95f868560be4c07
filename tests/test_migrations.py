"""One Alembic history that runs both ways on both backends, and matches the models."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from checkstand import migrations
from checkstand.db import connect
from checkstand.tables import Base
from tests import support


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield support.async_url(support.sqlite_url(tmp_path / "empty.sqlite"))
        return
    name = support.unique_name("cs_mig")
    url = support.create_postgres_database(name)
    yield support.async_url(url)
    support.drop_postgres_database(name)


def _tables(url: str) -> set[str]:
    async def read() -> set[str]:
        database = connect(url)
        try:
            async with database.engine.connect() as connection:
                return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
        finally:
            await database.dispose()

    return asyncio.run(read())


def _schema_drift(url: str) -> list[object]:
    async def diff() -> list[object]:
        database = connect(url)
        try:
            async with database.engine.connect() as connection:

                def compare(sync: Connection) -> list[object]:
                    context = MigrationContext.configure(sync, opts={"compare_type": True})
                    return list(compare_metadata(context, Base.metadata))

                return await connection.run_sync(compare)
        finally:
            await database.dispose()

    return asyncio.run(diff())


def test_upgrade_downgrade_upgrade(empty_database_url: str) -> None:
    model_tables = set(Base.metadata.tables)
    migrations.upgrade(empty_database_url)
    assert model_tables <= _tables(empty_database_url)
    migrations.downgrade(empty_database_url, "base")
    assert _tables(empty_database_url) <= {"alembic_version"}
    migrations.upgrade(empty_database_url)
    assert model_tables <= _tables(empty_database_url)


def test_migrations_match_the_models(empty_database_url: str) -> None:
    """A model changed without a migration would make the running schema differ from the code's."""
    migrations.upgrade(empty_database_url)
    assert _schema_drift(empty_database_url) == []
