"""The ``checkstand`` command as an operator runs it: real processes, fresh data directories."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import support
from tests.conftest import bearer


@pytest.fixture
def operator_database(backend: str, request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None on SQLite: the service must choose its own file in the data dir, as on a first run."""
    if backend == "sqlite":
        yield None
        return
    name = support.unique_name("cs_cli")
    yield support.create_postgres_database(name)
    support.drop_postgres_database(name)


def checkstand(data_dir: Path, database_url: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "checkstand", *args],
        env=support.server_env(data_dir, database_url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_serve_creates_one_demo_account_and_keeps_data(tmp_path: Path, operator_database: str | None) -> None:
    with support.run_server(tmp_path, operator_database) as first:
        assert first.account_id.startswith("acct_")
        assert first.secret_key.startswith("sk_")
        assert httpx.get(f"{first.base_url}/healthz").json() == {"status": "ok"}
        account = httpx.get(f"{first.base_url}/api/accounts/{first.account_id}", headers=bearer(first.secret_key))
        assert account.status_code == 200
        assert account.json()["name"] == "Demo Store"
    if operator_database is None:
        assert (tmp_path / "checkstand.db").exists()
        assert (tmp_path / "secret.key").exists()

    with support.run_server(tmp_path, operator_database) as second:
        assert second.account_id == first.account_id
        assert second.secret_key == ""  # the secret was shown once and is not stored
        listed = httpx.get(f"{second.base_url}/api/accounts/", headers=bearer(first.secret_key))
        assert [a["id"] for a in listed.json()] == [first.account_id]


def test_access_log_never_shows_secrets(tmp_path: Path) -> None:
    with support.run_server(tmp_path, None) as server:
        httpx.get(f"{server.base_url}/api/accounts/", headers=bearer(server.secret_key))
        httpx.get(f"{server.base_url}/c/cs_tok_secret-token-value")
        httpx.get(f"{server.base_url}/simulator/3ds/challenge-token-value")
    log = "".join(server.output)  # complete: the server has exited and its output is read to the end
    _, _, after_banner = log.partition("Secret key:")
    assert "/api/accounts/" in after_banner
    assert server.secret_key not in after_banner.split("\n", 1)[1]
    assert "secret-token-value" not in log
    assert "challenge-token-value" not in log
    assert "/c/[token]" in log


def test_accounts_and_keys_commands(tmp_path: Path, operator_database: str | None) -> None:
    assert checkstand(tmp_path, operator_database, "migrate").returncode == 0
    created = checkstand(tmp_path, operator_database, "accounts", "create", "--name", "Acme", "--json")
    assert created.returncode == 0, created.stderr
    account = json.loads(created.stdout)
    key = json.loads(
        checkstand(tmp_path, operator_database, "keys", "create", "--account", account["account_id"], "--json").stdout
    )
    listed = checkstand(tmp_path, operator_database, "keys", "list", "--account", account["account_id"], "--json")
    assert {row["key_id"] for row in json.loads(listed.stdout)} >= {key["key_id"]}
    assert key["secret_key"] not in listed.stdout
    assert account["secret_key"] not in listed.stdout

    revoked = checkstand(
        tmp_path, operator_database, "keys", "revoke", "--account", account["account_id"], key["key_id"]
    )
    assert revoked.returncode == 0
    with support.run_server(tmp_path, operator_database) as server:
        path = f"{server.base_url}/api/accounts/{account['account_id']}"
        assert httpx.get(path, headers=bearer(account["secret_key"])).status_code == 200
        assert httpx.get(path, headers=bearer(key["secret_key"])).status_code == 401

    unknown = checkstand(tmp_path, operator_database, "keys", "revoke", "--account", account["account_id"], "key_nope")
    assert unknown.returncode == 1
    assert "key_nope" in unknown.stdout


def test_worker_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    assert checkstand(tmp_path, None, "migrate").returncode == 0
    process = subprocess.Popen(
        [sys.executable, "-m", "checkstand", "worker"],
        env=support.server_env(tmp_path, None),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    while "worker started" not in process.stdout.readline():
        assert time.monotonic() < deadline
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    assert "worker stopped" in process.stdout.read()
