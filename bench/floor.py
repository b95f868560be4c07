"""The floor app: the least a Python web service can do per request, on the same stack as Checkstand (FastAPI on one
uvicorn process), so that Checkstand's rates are read as a fraction of it (issue 16).

- ``POST /rows`` takes a small JSON object and commits it as one row: an asyncpg pool on PostgreSQL (no ORM), or
  one stdlib ``sqlite3`` connection in WAL mode on SQLite (writes one at a time, as SQLite does anyway).
- ``GET /bare`` answers a constant without any I/O.

Run: ``.venv/bin/python -m bench.floor --database URL --port P`` (``sqlite:///path`` or ``postgresql://...``);
:func:`bench.common.floor_served` starts it as a process of its own, as the benches start Checkstand.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

# Checkstand's own pool on PostgreSQL: 10 connections and as many again in overflow (checkstand.db.connect).
POOL_SIZE = 20


class RowIn(BaseModel):
    description: str
    metadata: dict[str, str] = {}


Insert = Callable[[str], Awaitable[int]]


def _postgres(dsn: str) -> tuple[Callable[[], Awaitable[None]], Insert, Callable[[], Awaitable[None]]]:
    pool: list[asyncpg.Pool] = []

    async def start() -> None:
        created = await asyncpg.create_pool(dsn, min_size=POOL_SIZE, max_size=POOL_SIZE)
        await created.execute(
            "CREATE TABLE IF NOT EXISTS floor_rows (id bigserial PRIMARY KEY, body jsonb NOT NULL, "
            "created_at timestamptz NOT NULL DEFAULT now())"
        )
        pool.append(created)

    async def insert(body: str) -> int:
        # One statement outside an explicit transaction: PostgreSQL commits it on its own.
        row_id: int = await pool[0].fetchval("INSERT INTO floor_rows (body) VALUES ($1::jsonb) RETURNING id", body)
        return row_id

    async def stop() -> None:
        await pool[0].close()

    return start, insert, stop


def _sqlite(path: str) -> tuple[Callable[[], Awaitable[None]], Insert, Callable[[], Awaitable[None]]]:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    lock = asyncio.Lock()

    async def start() -> None:
        # Checkstand's pragmas (checkstand.db._configure_sqlite).
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute(
            "CREATE TABLE IF NOT EXISTS floor_rows (id INTEGER PRIMARY KEY, body TEXT NOT NULL, "
            "created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
        )

    def write(body: str) -> int:
        connection.execute("BEGIN IMMEDIATE")
        cursor = connection.execute("INSERT INTO floor_rows (body) VALUES (?)", (body,))
        connection.execute("COMMIT")
        return int(cursor.lastrowid or 0)

    async def insert(body: str) -> int:
        # Off the event loop, as aiosqlite does for Checkstand; one writer at a time, as SQLite allows.
        async with lock:
            return await asyncio.to_thread(write, body)

    async def stop() -> None:
        connection.close()

    return start, insert, stop


def create_app(database_url: str) -> FastAPI:
    if database_url.startswith("sqlite:///"):
        start, insert, stop = _sqlite(database_url.removeprefix("sqlite:///"))
    else:
        start, insert, stop = _postgres(database_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await start()
        yield
        await stop()

    app = FastAPI(lifespan=lifespan)

    @app.post("/rows", status_code=201)
    async def create_row(row: RowIn) -> dict[str, Any]:
        return {"id": await insert(json.dumps(row.model_dump())), "description": row.description}

    @app.get("/bare")
    async def bare() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", required=True, help="sqlite:///path or postgresql://...")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(create_app(args.database), host="127.0.0.1", port=args.port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
