"""The ``checkstand`` command as an operator runs it: real processes, fresh data directories."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from checkstand import __version__
from checkstand.accounts import service as accounts
from checkstand.core.crypto import SecretBox
from checkstand.processors import connections
from checkstand.processors.models import Processor
from checkstand.secret_key import service as key_check
from checkstand.webhooks import endpoints as webhook_endpoints
from checkstand.webhooks.models import WebhookEndpointSecret
from tests import support
from tests.conftest import bearer

KEY_A = "key-a-" + "a" * 40
KEY_B = "key-b-" + "b" * 40


@pytest.fixture
def operator_database(backend: str, request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None on SQLite: the service must choose its own file in the data dir, as on a first run."""
    if backend == "sqlite":
        yield None
        return
    name = support.unique_name("cs_cli")
    yield support.create_postgres_database(name)
    support.drop_postgres_database(name)


def checkstand(data_dir: Path, database_url: str | None, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "checkstand", *args],
        env=support.server_env(data_dir, database_url, **env),
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

    long_url = "https://checkout.example.com/" + "a-long-path-segment/" * 8
    with support.run_server(tmp_path, operator_database, CHECKSTAND_PUBLIC_URL=long_url) as second:
        assert second.account_id == first.account_id
        assert second.secret_key == ""  # the secret was shown once and is not stored
        banner = "".join(second.output)
        # Not a terminal: no line is wrapped, so the URLs can be copied whole.
        assert f"  API docs:   {long_url.rstrip('/')}/docs\n" in banner
        assert f"make another with `checkstand keys create --account {first.account_id}`" in banner
        listed = httpx.get(f"{second.base_url}/api/accounts/", headers=bearer(first.secret_key))
        assert [a["id"] for a in listed.json()] == [first.account_id]


def test_access_log_never_shows_secrets(tmp_path: Path) -> None:
    with support.run_server(tmp_path, None, CHECKSTAND_LOG_FORMAT="json") as server:
        httpx.get(f"{server.base_url}/api/accounts/", headers=bearer(server.secret_key))
        httpx.get(f"{server.base_url}/c/cs_tok_secret-token-value")
        httpx.get(f"{server.base_url}/simulator/3ds/challenge-token-value")
        forged = httpx.get(f"{server.base_url}/api/x%0D%0A2026-01-01 00:00:00,000 INFO checkstand.access: forged")
    log = "".join(server.output)  # complete: the server has exited and its output is read to the end
    _, _, after_banner = log.partition("Secret key:")
    assert "/api/accounts/" in after_banner
    assert server.secret_key not in after_banner.split("\n", 1)[1]
    assert "secret-token-value" not in log
    assert "challenge-token-value" not in log
    assert "/c/[token]" in log
    # CHECKSTAND_LOG_FORMAT=json: after the banner, every line is one JSON object, uvicorn's own lines included.
    entries = [json.loads(line) for line in after_banner.split("\n", 1)[1].splitlines()]
    assert {"uvicorn.error", "checkstand.access"} <= {entry["logger"] for entry in entries}
    (forged_entry,) = [entry for entry in entries if entry.get("request_id") == forged.headers["x-request-id"]]
    assert forged_entry["message"].startswith('"GET /api/x\r\n2026-01-01')
    assert {"time", "level", "logger", "message"} <= set(forged_entry)


def test_accounts_and_keys_commands(tmp_path: Path, operator_database: str | None) -> None:
    assert checkstand(tmp_path, operator_database, "migrate").returncode == 0
    created = checkstand(tmp_path, operator_database, "accounts", "create", "--name", "Acme", "--json")
    assert created.returncode == 0, created.stderr
    account = json.loads(created.stdout)
    listed_accounts = checkstand(tmp_path, operator_database, "accounts", "list", "--json")
    assert [row["name"] for row in json.loads(listed_accounts.stdout)] == ["Acme"]
    assert account["secret_key"] not in listed_accounts.stdout
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
    assert "key_nope" in unknown.stderr
    for command in (["list"], ["create"], ["revoke", "key_nope"]):
        refused = checkstand(tmp_path, operator_database, "keys", *command[:1], "--account", "acct_nope", *command[1:])
        assert refused.returncode == 1, command
        assert refused.stderr.strip() == "Error: No account with id 'acct_nope'.", command
        assert refused.stdout == ""


def test_version_and_usage(tmp_path: Path) -> None:
    version = checkstand(tmp_path, None, "--version")
    assert (version.returncode, version.stdout) == (0, f"checkstand {__version__}\n")
    missing_option = checkstand(tmp_path, None, "keys", "list")
    assert missing_option.returncode == 2
    assert "--account" in missing_option.stderr


def test_commands_before_migrate_say_so_and_leave_nothing_behind(tmp_path: Path, operator_database: str | None) -> None:
    data_dir = tmp_path / "data"
    for command in (["accounts", "create", "--name", "Acme"], ["accounts", "list"], ["keys", "list", "--account", "a"]):
        refused = checkstand(data_dir, operator_database, *command)
        assert refused.returncode == 1, command
        assert "Traceback" not in refused.stderr
        (line,) = refused.stderr.splitlines()
        assert line.endswith(
            "run `checkstand migrate` first" if operator_database is None else "run `checkstand migrate`"
        )
    assert not data_dir.exists()  # no data dir, no empty database file


def test_an_unreachable_database_is_one_line_without_its_password(tmp_path: Path) -> None:
    port = support.free_port()
    url = f"postgresql://ops:not-a-real-password@127.0.0.1:{port}/shop"
    for command in (["accounts", "list"], ["migrate"], ["worker"], ["keys", "list", "--account", "acct_x"]):
        refused = checkstand(tmp_path, url, *command)
        assert refused.returncode == 1, command
        (line,) = refused.stderr.splitlines()
        assert line.startswith(f"Error: cannot reach the database at 127.0.0.1:{port}/shop: "), line
        assert "not-a-real-password" not in refused.stderr + refused.stdout


def test_a_short_secret_key_is_refused(tmp_path: Path) -> None:
    refused = checkstand(tmp_path, None, "migrate", CHECKSTAND_SECRET_KEY="too-short")
    assert refused.returncode == 1
    assert "CHECKSTAND_SECRET_KEY" in refused.stderr
    assert "at least 32 bytes" in refused.stderr
    assert "Traceback" not in refused.stderr


def _seed_secrets(database_url: str) -> tuple[str, str, str]:
    """A database first started with KEY_A, holding a webhook signing secret and Stripe credentials sealed with it:
    (account id, its API key, the endpoint id)."""

    async def seed() -> tuple[str, str, str]:
        database = support.connect_url(database_url)
        box = SecretBox(KEY_A)
        try:
            async with database.writing() as session:
                await key_check.verify(session, KEY_A)
                account = await accounts.create_account(session, name="Rotating")
                key = await accounts.create_api_key(session, account)
                created = await webhook_endpoints.create_endpoint(
                    session, account.id, url="https://hooks.example/in", events=["*"], description=None, box=box
                )
                await connections.create_processor(
                    session,
                    account.id,
                    box,
                    name="Stripe",
                    type="stripe",
                    currencies=["usd"],
                    secret_key="sk_test_" + "x" * 24,
                    webhook_secret="whsec_" + "y" * 24,
                    api_base="http://127.0.0.1:9",
                    allow_private_urls=True,
                )
                await session.commit()
                return account.id, key.secret, created.endpoint.id
        finally:
            await database.dispose()

    return asyncio.run(seed())


def _sealed_values(database_url: str) -> list[str]:
    async def read() -> list[str]:
        database = support.connect_url(database_url)
        try:
            async with database.reading() as session:
                secrets = (await session.scalars(select(WebhookEndpointSecret.sealed_secret))).all()
                credentials = (await session.scalars(select(Processor.sealed_credentials))).all()
                return [value for value in (*secrets, *credentials) if value is not None]
        finally:
            await database.dispose()

    return asyncio.run(read())


def test_another_key_is_refused_and_rotation_moves_every_secret(tmp_path: Path, operator_database: str | None) -> None:
    assert checkstand(tmp_path, operator_database, "migrate").returncode == 0
    url = operator_database or support.sqlite_url(tmp_path / "checkstand.db")
    account_id, api_key, endpoint_id = _seed_secrets(url)

    for command in (["worker"], ["serve", "--port", str(support.free_port())]):
        refused = checkstand(tmp_path, operator_database, *command, CHECKSTAND_SECRET_KEY=KEY_B)
        assert refused.returncode == 1, command
        assert "not the key this database's secrets are sealed with" in refused.stderr
        assert KEY_A not in refused.stderr + refused.stdout
        assert KEY_B not in refused.stderr + refused.stdout

    alone = checkstand(tmp_path, operator_database, "secret-key", "rotate", CHECKSTAND_SECRET_KEY=KEY_B)
    assert alone.returncode == 1
    assert "CHECKSTAND_PREVIOUS_SECRET_KEY" in alone.stderr
    rotated = checkstand(
        tmp_path,
        operator_database,
        "secret-key",
        "rotate",
        CHECKSTAND_SECRET_KEY=KEY_B,
        CHECKSTAND_PREVIOUS_SECRET_KEY=KEY_A,
    )
    assert rotated.returncode == 0, rotated.stderr
    assert "Re-encrypted 1 processor credential set(s) and 1 webhook signing secret(s)" in rotated.stdout
    sealed = _sealed_values(url)
    assert len(sealed) == 2
    for value in sealed:
        SecretBox(KEY_B).open(value)
        with pytest.raises(ValueError, match="CHECKSTAND_SECRET_KEY"):
            SecretBox(KEY_A).open(value)

    old_key = checkstand(tmp_path, operator_database, "worker", CHECKSTAND_SECRET_KEY=KEY_A)
    assert old_key.returncode == 1
    with support.run_server(tmp_path, operator_database, CHECKSTAND_SECRET_KEY=KEY_B) as server:
        revealed = httpx.get(
            f"{server.base_url}/api/{account_id}/webhook-endpoints/{endpoint_id}/reveal-secret", headers=bearer(api_key)
        )
    assert revealed.status_code == 200, revealed.text
    assert revealed.json()["signing_secret"].startswith("whsec_")


def test_worker_serves_its_metrics_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    assert checkstand(tmp_path, None, "migrate").returncode == 0
    port = support.free_port()
    token = "worker-metrics-token-0123456789"
    process = subprocess.Popen(
        [sys.executable, "-m", "checkstand", "worker"],
        env=support.server_env(
            tmp_path,
            None,
            CHECKSTAND_METRICS="token",
            CHECKSTAND_METRICS_TOKEN=token,
            CHECKSTAND_WORKER_METRICS_PORT=str(port),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while "worker started" not in process.stdout.readline():
        assert time.monotonic() < deadline
    scraped = None
    while scraped is None or scraped.status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.2)
        with contextlib.suppress(httpx.TransportError):
            scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", headers=bearer(token))
    names = {family.name for family in text_string_to_metric_families(scraped.text)}
    assert {"checkstand_webhook_deliveries", "checkstand_payments", "checkstand_worker_heartbeat_age_seconds"} <= names
    assert httpx.get(f"http://127.0.0.1:{port}/metrics").status_code == 401
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0
    assert "worker stopped" in process.stdout.read()
