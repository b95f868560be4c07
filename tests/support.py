"""Test plumbing shared by every test module: databases on both backends and a real server process."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from checkstand import migrations
from checkstand.accounts import service as accounts
from checkstand.db import Database, connect

POSTGRES_ADMIN_DSN = os.environ.get("CHECKSTAND_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgresql")


def postgres_url(database: str) -> str:
    base = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0]
    return f"{base}/{database}"


def unique_name(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def create_postgres_database(name: str, template: str | None = None) -> str:
    clause = f' TEMPLATE "{template}"' if template else ""
    asyncio.run(_admin(f'CREATE DATABASE "{name}"{clause}'))
    return postgres_url(name)


def drop_postgres_database(name: str) -> None:
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def async_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://").replace("sqlite://", "sqlite+aiosqlite://")


def connect_url(url: str) -> Database:
    return connect(async_url(url))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A real ``checkstand serve`` process."""

    base_url: str
    database_url: str
    data_dir: Path
    account_id: str
    secret_key: str
    process: subprocess.Popen[str]
    output: list[str]

    def new_account(self, name: str = "Test merchant") -> tuple[str, str]:
        """A fresh account and secret key in the server's database, made through the service layer."""

        async def make() -> tuple[str, str]:
            database = connect_url(self.database_url)
            try:
                async with database.writing() as session:
                    account = await accounts.create_account(session, name=name)
                    issued = await accounts.create_api_key(session, account)
                    await session.commit()
                    return account.id, issued.secret
            finally:
                await database.dispose()

        return asyncio.run(make())


DEMO_ACCOUNT_LINE = re.compile(r"Demo account:\s+(acct_\S+)")
SECRET_LINE = re.compile(r"Secret key:\s+(sk_\S+)")


def server_env(data_dir: Path, database_url: str | None, **extra: str) -> dict[str, str]:
    """The environment of a Checkstand process; ``database_url=None`` leaves it on its default SQLite file. Test
    webhook receivers and localstripe listen on 127.0.0.1, so private webhook and processor URLs are allowed unless
    ``extra`` says otherwise. Every test of a run pays from 127.0.0.1 on the one shared server, with the same few test
    cards, so the per-IP and per-card limits on failed payments are lifted (their own tests run in process, with the
    defaults)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHECKSTAND_")}
    env.update(CHECKSTAND_DATA_DIR=str(data_dir), CHECKSTAND_WORKER_POLL_SECONDS="0.2")
    env["CHECKSTAND_CONFIRM_MAX_FAILED_PER_IP"] = "1000000"
    env["CHECKSTAND_CONFIRM_MAX_FAILED_PER_CARD"] = "1000000"
    env["CHECKSTAND_WEBHOOK_ALLOW_PRIVATE_URLS"] = "true"
    env["CHECKSTAND_PROCESSOR_ALLOW_PRIVATE_URLS"] = "true"
    env.update(extra)
    if database_url is not None:
        env["CHECKSTAND_DATABASE_URL"] = database_url
    return env


@contextmanager
def run_server(
    data_dir: Path, database_url: str | None, *, no_worker: bool = False, port: int | None = None, **extra_env: str
) -> Iterator[Server]:
    """``port``: a restart's, to serve the same instance as the process before it; by default a free one. One serving
    process, whatever the backend: the tests that kill it mean to kill the server, and a killed parent's serving
    processes would live on (tests/test_serve_workers.py runs several)."""
    port = port or free_port()
    args = [sys.executable, "-m", "checkstand", "serve", "--port", str(port), "--workers", "1"]
    if no_worker:
        args.append("--no-worker")
    process = subprocess.Popen(
        args,
        env=server_env(data_dir, database_url, **extra_env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    base_url = f"http://127.0.0.1:{port}"
    drain: threading.Thread | None = None
    try:
        account_id, secret = _wait_until_up(process, base_url, output)
        drain = threading.Thread(target=_read_rest, args=(process, output), daemon=True)
        drain.start()
        url = database_url or sqlite_url(data_dir / "checkstand.db")
        yield Server(base_url, url, data_dir, account_id, secret, process, output)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        if drain is not None:
            drain.join(timeout=5)


SERVER_START_SECONDS = 180


def _wait_until_up(process: subprocess.Popen[str], base_url: str, output: list[str]) -> tuple[str, str]:
    """Reads the banner (account id, maybe a key) then polls /healthz."""
    assert process.stdout is not None
    account_id = secret = ""
    # Generous: on 2 busy cores (the suite's browsers and servers beside it) a start with its migrations has taken
    # over a minute, and a session-scoped server that misses it fails every test that shares it.
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("server exited:\n" + "".join(output))
        output.append(line)
        if match := DEMO_ACCOUNT_LINE.search(line):
            account_id = match.group(1)
        if match := SECRET_LINE.search(line):
            secret = match.group(1)
        if "Secret key:" in line:
            break
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return account_id, secret
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("server did not come up:\n" + "".join(output))


def _read_rest(process: subprocess.Popen[str], output: list[str]) -> None:
    assert process.stdout is not None
    output.extend(process.stdout)


def migrated_sqlite_template(directory: Path) -> Path:
    path = directory / "template.sqlite"
    migrations.upgrade(async_url(sqlite_url(path)))
    return path


def copy_sqlite(template: Path, destination: Path) -> str:
    shutil.copyfile(template, destination)
    return sqlite_url(destination)
