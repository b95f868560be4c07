"""Engine, sessions and the declarative base, for SQLite (embedded default) and PostgreSQL alike."""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import JSON, BigInteger, DateTime, Float, Integer, MetaData, TypeDecorator, event, inspect, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeEngine
from sqlalchemy.util import await_

from checkstand.core import clock

# Deterministic constraint names let one Alembic history drop and alter constraints on both backends.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on SQLite too (which has no timezone type)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return clock.as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else clock.as_utc(value)


class JSONDocument(TypeDecorator[Any]):
    """JSON on SQLite, JSONB on PostgreSQL (indexable, compact)."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(JSONB() if dialect.name == "postgresql" else JSON())


class seconds_between(FunctionElement[float]):
    """``later - earlier`` in seconds, for two datetime expressions, on both backends: PostgreSQL subtracts
    timestamps, SQLite (which keeps them as text) their Julian days, to the millisecond."""

    type = Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(seconds_between)
def _seconds_between(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"


@compiles(seconds_between, "sqlite")
def _seconds_between_sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(clause, **kw) for clause in element.clauses)
    # Julian days are doubles: rounded to the millisecond, an exact difference compares exactly.
    return f"ROUND((julianday({later}) - julianday({earlier})) * 86400.0, 3)"


# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
Serial = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSONDocument}


class TimestampedMixin:
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


@dataclass(frozen=True)
class Database:
    """The engine and two session factories. On SQLite a writing request takes the write lock when it begins
    (``BEGIN IMMEDIATE``): a transaction that reads then upgrades to writing would otherwise fail with "database
    is locked" when another writer got there first, instead of waiting its turn. Within a process, writers wait
    for it in the :class:`WriteQueue`, in the order they asked."""

    engine: AsyncEngine
    reading: async_sessionmaker[AsyncSession]
    writing: async_sessionmaker[AsyncSession]
    write_queue: WriteQueue | None = field(default=None, repr=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    async def dispose(self) -> None:
        await self.engine.dispose()


SQLITE_BUSY_TIMEOUT_MS = 30_000


class WriteQueue:
    """SQLite's writers of one process, served in arrival order.

    SQLite has one write lock and no queue: a writer that finds it taken sleeps in the busy handler and retries
    (after 1, 2, 5, 10 ... 100 ms), so under load a newcomer often takes the lock from one that has waited long,
    and the slowest writers wait seconds. Here a writing transaction first takes a FIFO :class:`asyncio.Lock`
    (which serves its waiters in order, newcomers behind them) and holds it until its connection goes back to the
    pool, after the COMMIT or ROLLBACK: within the process the write lock is handed over in order and never polled
    for. Other processes on the file still meet at SQLite's lock and its busy handler. Readers never queue: WAL lets
    them read beside the writer. One lock per event loop, since an :class:`asyncio.Lock` belongs to one."""

    def __init__(self, timeout_seconds: float) -> None:
        self.timeout_seconds = timeout_seconds
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()

    async def acquire(self) -> asyncio.Lock:
        """The held lock, to release when the transaction is over. Waits as long as the busy handler would have, so
        a writer waiting on itself (a second writing session inside the first) fails rather than hangs."""
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        try:
            async with asyncio.timeout(self.timeout_seconds):
                await lock.acquire()
        except TimeoutError:
            raise TimeoutError(f"waited {self.timeout_seconds:g} s for SQLite's write lock") from None
        return lock


# Every Database on one SQLite file in this process shares its queue, as they share the file's lock.
_WRITE_QUEUES: dict[str, WriteQueue] = {}
# Where a connection keeps the queue's lock while its transaction holds it (the pool entry's info, which the
# Connection, the pool's checkin event and the next checkout of the same DBAPI connection all see).
_HELD_LOCK: Final = "checkstand.write_queue_lock"


def connect(url: str, *, echo: bool = False, pool_size: int = 10) -> Database:
    """``hide_parameters``: SQLAlchemy would otherwise put a failing statement's values in the error's text, and so in
    any log line that shows the error: secure tokens, customers' names and emails."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, echo=echo, hide_parameters=True)
        write_queue = _WRITE_QUEUES.setdefault(url, WriteQueue(SQLITE_BUSY_TIMEOUT_MS / 1000))
        _configure_sqlite(engine, write_queue)
        writer = engine.execution_options(sqlite_begin="IMMEDIATE")
    else:
        engine = create_async_engine(
            url,
            echo=echo,
            hide_parameters=True,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
        )
        writer = engine
        write_queue = None
    return Database(
        engine=engine,
        reading=async_sessionmaker(engine, expire_on_commit=False),
        writing=async_sessionmaker(writer, expire_on_commit=False),
        write_queue=write_queue,
    )


def _configure_sqlite(engine: AsyncEngine, write_queue: WriteQueue) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Take transaction control from the driver so "begin" below decides how each transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL is a property of the file, kept once set. Setting it again waits for the write lock, polled for by
        # the busy handler outside the write queue, so a connection opened while another writes would stall.
        cursor.execute("PRAGMA journal_mode")
        if str(cursor.fetchone()[0]).lower() != "wal":
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        if mode != "IMMEDIATE":
            connection.exec_driver_sql(f"BEGIN {mode}")
            return
        # Event handlers run inside SQLAlchemy's greenlet, where await_ waits on the event loop.
        lock = await_(write_queue.acquire())
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            lock.release()
            raise
        connection.info[_HELD_LOCK] = lock

    def give_back(record: ConnectionPoolEntry) -> None:
        lock = record.info.pop(_HELD_LOCK, None)
        if lock is not None:
            lock.release()

    @event.listens_for(engine.sync_engine.pool, "checkin")
    def on_checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        # After the COMMIT or ROLLBACK (a session gives its connection back when its transaction ends, and the pool
        # rolls back whatever a dropped connection left open), so the next writer's BEGIN finds the lock free.
        give_back(record)

    @event.listens_for(engine.sync_engine.pool, "invalidate")
    def on_invalidate(_dbapi_connection: Any, record: ConnectionPoolEntry, _error: BaseException | None) -> None:
        # An invalidated connection is closed, its transaction with it, and never checked in.
        give_back(record)


def schema_revision(connection: Connection) -> str | None:
    """The migration a database is at (Alembic's version table); None when it was never migrated. Read directly
    rather than through Alembic, which logs a line per look: /readyz looks often. Takes a sync connection
    (``run_sync``)."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    revision: str | None = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return revision
