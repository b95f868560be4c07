"""``checkstand users create``: a password read from standard input when it is not a terminal."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.dashboard import users
from checkstand.dashboard.models import DashboardUser
from tests import support

T = TypeVar("T")


def _checkstand(data_dir: Path, database_url: str, stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "checkstand", *args],
        env=support.server_env(data_dir, database_url),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _in_database(database_url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def run() -> T:
        database = support.connect_url(database_url)
        try:
            async with database.writing() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await database.dispose()

    return asyncio.run(run())


def test_users_create_reads_the_password_from_stdin(database_url: str, tmp_path: Path) -> None:
    async def make_account(session: AsyncSession) -> str:
        return (await accounts.create_account(session, name="Shop")).id

    account_id = _in_database(database_url, make_account)
    # The PostgreSQL database is shared by the run's tests (and emails are unique across accounts): one of its own.
    email = f"owner-{uuid.uuid4().hex[:12]}@shop.example"
    args = ["users", "create", "--account", account_id, "--email", email.capitalize(), "--json"]
    created = _checkstand(tmp_path, database_url, "a long enough password\n", *args)
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["email"] == email

    async def check(session: AsyncSession) -> DashboardUser | None:
        return await users.authenticate(session, email, "a long enough password")

    user = _in_database(database_url, check)
    assert user is not None
    assert user.account_id == account_id

    again = _checkstand(tmp_path, database_url, "another long password\n", *args)
    assert again.returncode == 1
    assert "exists already" in again.stderr
    short = _checkstand(tmp_path, database_url, "short\n", *args[:-3], "--email", f"b-{email}")
    assert short.returncode == 1
    assert "password" in short.stderr
