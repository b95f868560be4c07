"""The ``checkstand`` command: serve, worker, migrate, and account, key and secret-key administration.

An expected failure (no database yet, a database that can't be reached, a schema behind the code, another process's
secret key, an unknown account) is one line on stderr and exit code 1, never a traceback; a usage error is exit 2.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final, NoReturn, TypeVar

import typer
import uvicorn
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand import __version__, migrations
from checkstand.accounts import service as accounts
from checkstand.accounts.models import Account
from checkstand.core.crypto import SecretBox
from checkstand.core.errors import CheckstandError, InvalidFields
from checkstand.dashboard import users as dashboard_users
from checkstand.db import Database, connect, schema_revision
from checkstand.observability.logs import configure_logging
from checkstand.processors import connections
from checkstand.secret_key import service as secret_key_check
from checkstand.settings import Settings
from checkstand.webhooks import endpoints as webhook_endpoints

if TYPE_CHECKING:
    from fastapi import FastAPI

app = typer.Typer(
    help="Checkstand: a self-hosted checkout service.",
    no_args_is_help=True,
    # A traceback's locals would show the settings, secret key included.
    pretty_exceptions_show_locals=False,
)
accounts_cli = typer.Typer(help="Merchant accounts.", no_args_is_help=True)
keys_cli = typer.Typer(help="Secret API keys of an account.", no_args_is_help=True)
secret_key_cli = typer.Typer(
    help="The key that encrypts secrets at rest (CHECKSTAND_SECRET_KEY).", no_args_is_help=True
)
app.add_typer(accounts_cli, name="accounts")
app.add_typer(keys_cli, name="keys")
app.add_typer(secret_key_cli, name="secret-key")
users_cli = typer.Typer(help="Users who sign in to the dashboard.", no_args_is_help=True)
app.add_typer(users_cli, name="users")
# soft_wrap: never break a line (a URL or a key must stay whole when the output is a file or a pipe).
console = Console(soft_wrap=True, highlight=False)
errors = Console(stderr=True, soft_wrap=True, highlight=False)

T = TypeVar("T")

AccountOption = Annotated[str, typer.Option("--account", help="The account id (acct_...).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
# A database that doesn't answer within this is reported as unreachable rather than waited on.
CONNECT_TIMEOUT_SECONDS: Final = 15.0


class CommandFailed(Exception):
    """An expected failure, told in one line."""


def main() -> None:
    app()


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"checkstand {__version__}")
        raise typer.Exit


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Checkstand: a self-hosted checkout service."""


# --- Settings, database and expected failures -----------------------------------------------------------------------


def _fail(message: str) -> NoReturn:
    errors.print(f"Error: {message}", markup=False)
    raise typer.Exit(code=1)


@contextmanager
def _expected_failures() -> Iterator[None]:
    try:
        yield
    except CommandFailed as failure:
        _fail(str(failure))
    except CheckstandError as error:
        _fail(error.detail)
    except InvalidFields as invalid:
        _fail("; ".join(f"{'.'.join(map(str, p.path))}: {p.msg}" for p in invalid.problems))


def _settings(**overrides: object) -> Settings:
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as invalid:
        problems = "; ".join(
            f"CHECKSTAND_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" if e["loc"] else e["msg"]
            for e in invalid.errors()
        )
        _fail(f"invalid configuration: {problems}")
    configure_logging(settings.log_level, settings.log_format)
    return settings


def _where(url: str) -> str:
    """The database as an operator names it: its file, or host:port/name. Never its password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or "(memory)"
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


def _sqlite_file(settings: Settings) -> Path | None:
    parsed = make_url(settings.resolved_database_url)
    return Path(parsed.database) if parsed.get_backend_name() == "sqlite" and parsed.database else None


def _unreachable(settings: Settings, error: BaseException) -> CommandFailed:
    url = settings.resolved_database_url
    text = str(error.orig if isinstance(error, DBAPIError) else error).strip()
    reason = text.splitlines()[0] if text else type(error).__name__
    password = make_url(url).password
    if password:
        reason = reason.replace(str(password), "***")
    return CommandFailed(f"cannot reach the database at {_where(url)}: {reason}")


def _prepare_data_dir(settings: Settings) -> None:
    """Only the commands that create a database make the data dir: the others leave nothing behind."""
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)


async def _revision(settings: Settings, database: Database) -> str | None:
    """The schema revision of a database that answers; a one-line :class:`CommandFailed` for one that doesn't."""
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS), database.engine.connect() as connection:
            return await connection.run_sync(schema_revision)
    except (OSError, DBAPIError, TimeoutError) as error:
        raise _unreachable(settings, error) from error


@asynccontextmanager
async def _open(settings: Settings) -> AsyncIterator[Database]:
    """The database, reachable and at the schema this code expects; otherwise a one-line :class:`CommandFailed`."""
    sqlite_file = _sqlite_file(settings)
    if sqlite_file is not None and not sqlite_file.exists():
        # Connecting would create an empty file: say what to do instead.
        raise CommandFailed(f"no database at {sqlite_file}: run `checkstand migrate` first")
    database = connect(settings.resolved_database_url)
    try:
        revision = await _revision(settings, database)
        expected = migrations.head_revision()
        if revision != expected:
            found = f"at revision {revision}" if revision else "empty"
            raise CommandFailed(
                f"the database at {_where(settings.resolved_database_url)} is {found}; this Checkstand needs "
                f"revision {expected}: run `checkstand migrate`"
            )
        yield database
    finally:
        await database.dispose()


def _in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def run() -> T:
        async with _open(settings) as database, database.writing() as session:
            result = await work(session)
            await session.commit()
            return result

    with _expected_failures():
        return asyncio.run(run())


def _migrate(settings: Settings) -> None:
    """Reach the database first, so that only a failure to reach it is told in one line: a migration that fails
    on a database that answers is a bug, and its traceback is what to report."""
    _prepare_data_dir(settings)

    async def reach() -> None:
        database = connect(settings.resolved_database_url)
        try:
            await _revision(settings, database)
        finally:
            await database.dispose()

    with _expected_failures():
        asyncio.run(reach())
    migrations.upgrade(settings.resolved_database_url)


def _at_rest_keys(settings: Settings) -> tuple[str, ...]:
    try:
        return settings.at_rest_keys
    except ValueError as unusable:  # a hand-edited key file shorter than the minimum
        _fail(str(unusable))


async def _check_secret_key(session: AsyncSession, settings: Settings) -> None:
    """Refuse to run with another key than the database's (recording it on first start)."""
    try:
        await secret_key_check.verify(session, *_at_rest_keys(settings))
    except secret_key_check.SecretKeyMismatch as mismatch:
        raise CommandFailed(str(mismatch)) from mismatch


# --- Running ---------------------------------------------------------------------------------------------------------


# What `serve` tells the processes that serve (uvicorn builds the app in each from an import string, so only the
# environment reaches them): how many there are, and whether each runs the background worker.
_SERVE_PROCESSES_ENV: Final = "_CHECKSTAND_SERVE_PROCESSES"
_SERVE_WORKER_ENV: Final = "_CHECKSTAND_SERVE_WORKER"


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Leave background jobs to `checkstand worker`.")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="Processes serving the one port, each with its own background worker (unless --no-worker). "
            "Default: the number of cores on PostgreSQL; 1 on SQLite, whose single write lock more processes would "
            "only contend for.",
        ),
    ] = None,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            "--forwarded-allow-ips",
            help="Comma-separated IPs or CIDRs of the proxies whose X-Forwarded-For names the client "
            "(CHECKSTAND_TRUSTED_PROXIES; default: none).",
        ),
    ] = None,
) -> None:
    """Run the API, hosted pages and (unless --no-worker) the background worker."""
    settings = _settings(host=host, port=port, trusted_proxies=forwarded_allow_ips)
    on_sqlite = make_url(settings.resolved_database_url).get_backend_name() == "sqlite"
    processes = workers or (1 if on_sqlite else os.cpu_count() or 1)
    # Once, here, before any process serves: the migration, the secret key's check and the demo account.
    _migrate(settings)
    _announce_demo_account(settings)
    os.environ.update(
        {
            "CHECKSTAND_HOST": settings.host,
            "CHECKSTAND_PORT": str(settings.port),
            "CHECKSTAND_TRUSTED_PROXIES": settings.trusted_proxies,
            _SERVE_PROCESSES_ENV: str(processes),
            _SERVE_WORKER_ENV: "" if no_worker else "1",
        }
    )
    uvicorn.run(
        f"{__name__}:served_app",
        factory=True,
        workers=processes,
        host=settings.host,
        port=settings.port,
        proxy_headers=False,  # the app trusts CHECKSTAND_TRUSTED_PROXIES itself; uvicorn's default trusts 127.0.0.1
        access_log=False,  # ours redacts tokens in paths; see api/http/request_context.py
        log_config=None,  # uvicorn's lines go through our formatter too (escaped; JSON when asked)
        log_level=settings.log_level,
    )


def served_app() -> FastAPI:
    """The app one ``checkstand serve`` process runs (uvicorn's factory, called in each process), built from the
    settings ``serve`` resolved and put in the environment."""
    # Imported here, as in `worker`: the web stack and the payment flow take seconds to import, which the
    # administrative commands (and --version) need not wait for.
    from checkstand.app import create_app
    from checkstand.payments.leases import serve_instances

    settings = _settings()
    processes = int(os.environ.get(_SERVE_PROCESSES_ENV, "1"))
    return create_app(
        settings,
        run_worker=bool(os.environ.get(_SERVE_WORKER_ENV)),
        instances=serve_instances(settings.port, processes),
    )


async def create_demo_account(session: AsyncSession) -> tuple[Account, accounts.IssuedKey]:
    """The account the first start makes, with a key and the simulator connected, so a test payment needs no
    set-up. The CLI's job: it wires accounts and processors together, which neither module should know of."""
    account = await accounts.create_account(
        session, name=accounts.DEMO_ACCOUNT_NAME, description="Created on first start."
    )
    account.is_demo = True
    issued = await accounts.create_api_key(session, account, description="Demo key")
    await connections.connect_simulator(session, account.id)
    return account, issued


def _announce_demo_account(settings: Settings) -> None:
    async def ensure(session: AsyncSession) -> tuple[str, str | None, str | None]:
        await _check_secret_key(session, settings)
        existing = await accounts.find_demo_account(session)
        if existing is not None:
            return existing.id, None, None
        account, issued = await create_demo_account(session)
        # The demo account's own dashboard user, signed in once by a link: no password to choose before a first look.
        link = await dashboard_users.issue_sign_in_link(
            session, await dashboard_users.ensure_demo_user(session, account.id)
        )
        return account.id, issued.secret, link.token

    account_id, secret, link_token = _in_transaction(settings, ensure)
    base = settings.resolved_public_url
    console.print(f"Checkstand is starting at [bold]{base}[/bold]")
    console.print(f"  API:        {base}/api/")
    console.print(f"  API docs:   {base}/docs")
    console.print(f"  Dashboard:  {base}/dashboard/")
    if link_token is not None:
        minutes = int(dashboard_users.SIGN_IN_LINK_LIFETIME.total_seconds() // 60)
        console.print(
            f"  Dashboard sign-in link: {base}/dashboard/sign-in/link/{link_token}   (works once, within {minutes} "
            "minutes)",
            markup=False,
        )
    console.print(f"  Demo account: {account_id}")
    if secret is not None:
        console.print(f"  Secret key:   {secret}   (shown once: store it now)")
    else:
        console.print(
            f"  Secret key:   shown on first start; make another with `checkstand keys create --account {account_id}`"
        )


@app.command()
def worker() -> None:
    """Run only the background worker (webhook delivery, expiry, recovery). Stops cleanly on SIGTERM."""
    from checkstand.app import create_metrics_app
    from checkstand.worker import Worker

    settings = _settings()

    async def run() -> None:
        async with _open(settings) as database:
            async with database.writing() as session:
                await _check_secret_key(session, settings)
                await session.commit()
            async with _instance(database, settings) as lease_owner:
                loop_worker = Worker(database, settings, lease_owner=lease_owner)
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(sig, loop_worker.stop)
                if settings.worker_metrics_port is None or settings.metrics == "off":
                    await loop_worker.run()
                    return
                # uvicorn takes SIGTERM while it serves, stops, then raises the signal again for the worker's handler.
                metrics_server = uvicorn.Server(
                    uvicorn.Config(
                        create_metrics_app(settings, database),
                        host=settings.host,
                        port=settings.worker_metrics_port,
                        log_config=None,
                        access_log=False,
                        lifespan="off",
                    )
                )

                async def work() -> None:
                    try:
                        await loop_worker.run()
                    finally:
                        metrics_server.should_exit = True  # a signal that came before uvicorn took them stops it too

                await asyncio.gather(work(), metrics_server.serve())

    with _expected_failures():
        asyncio.run(run())


@asynccontextmanager
async def _instance(database: Database, settings: Settings) -> AsyncIterator[str | None]:
    """A named worker's instance, held while it runs: the owner its leases name (None for an unnamed worker, or
    when a live worker holds the name)."""
    from checkstand.payments import leases

    name = settings.instance_name
    claim = await leases.start(database, leases.worker_instance(name)) if name is not None else None
    try:
        yield claim.owner.id if claim is not None else None
    finally:
        if claim is not None:
            claim.release()


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    settings = _settings()
    _migrate(settings)
    console.print("Database is up to date.")


# --- Accounts and keys -----------------------------------------------------------------------------------------------


@accounts_cli.command("create")
def accounts_create(
    name: Annotated[str, typer.Option(help="The merchant's name.")],
    as_json: JsonOption = False,
) -> None:
    """Create an account and its first secret key."""
    settings = _settings()

    async def create(session: AsyncSession) -> tuple[str, str]:
        account = await accounts.create_account(session, name=name)
        issued = await accounts.create_api_key(session, account, description="Created with the account")
        return account.id, issued.secret

    account_id, secret = _in_transaction(settings, create)
    if as_json:
        typer.echo(json.dumps({"account_id": account_id, "secret_key": secret}))
    else:
        console.print(f"Account:    {account_id}\nSecret key: {secret}   (shown once)", markup=False)


@accounts_cli.command("list")
def accounts_list(as_json: JsonOption = False) -> None:
    """List every account, newest first."""
    settings = _settings()
    rows = [
        {
            "account_id": account.id,
            "name": account.name,
            "demo": account.is_demo,
            "created_at": account.created_at.isoformat(timespec="seconds"),
        }
        for account in _in_transaction(settings, accounts.list_accounts)
    ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table("id", "name", "created", "demo")
    for row in rows:
        table.add_row(str(row["account_id"]), str(row["name"]), str(row["created_at"]), "yes" if row["demo"] else "")
    console.print(table)


@keys_cli.command("create")
def keys_create(
    account: AccountOption,
    description: Annotated[str | None, typer.Option(help="What the key is for.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a secret key; it is printed once and stored only as a hash."""
    settings = _settings()

    async def create(session: AsyncSession) -> tuple[str, str]:
        issued = await accounts.create_api_key(
            session, await accounts.get_account(session, account), description=description
        )
        return issued.key.id, issued.secret

    key_id, secret = _in_transaction(settings, create)
    if as_json:
        typer.echo(json.dumps({"key_id": key_id, "secret_key": secret}))
    else:
        console.print(f"Key:        {key_id}\nSecret key: {secret}   (shown once)", markup=False)


@keys_cli.command("list")
def keys_list(account: AccountOption, as_json: JsonOption = False) -> None:
    """List an account's keys (previews only; secrets are never stored)."""
    settings = _settings()

    async def listed(session: AsyncSession) -> list[dict[str, object]]:
        await accounts.get_account(session, account)
        return [
            {
                "key_id": key.id,
                "preview": key.secret_token_preview,
                "active": key.is_active,
                "created_at": key.created_at.isoformat(timespec="seconds"),
                "description": key.description or "",
            }
            for key in await accounts.list_api_keys(session, account)
        ]

    rows = _in_transaction(settings, listed)
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table("id", "preview", "active", "created", "description")
    for row in rows:
        table.add_row(
            str(row["key_id"]),
            f"{row['preview']}...",
            "yes" if row["active"] else "revoked",
            str(row["created_at"]),
            str(row["description"]),
        )
    console.print(table)


@keys_cli.command("revoke")
def keys_revoke(account: AccountOption, key_id: Annotated[str, typer.Argument(help="The key id (key_...).")]) -> None:
    """Revoke a key: it stops working on the next request."""
    settings = _settings()

    async def revoke(session: AsyncSession) -> None:
        await accounts.get_account(session, account)
        await accounts.revoke_api_key(session, account, key_id)

    _in_transaction(settings, revoke)
    console.print(f"Revoked {key_id}.", markup=False)


# --- Dashboard users ------------------------------------------------------------------------------------------------


@users_cli.command("create")
def users_create(
    account: AccountOption,
    email: Annotated[str, typer.Option("--email", help="The user's email: what they sign in with.")],
    as_json: JsonOption = False,
) -> None:
    """Create a dashboard user of an account. The password is asked for (twice) on a terminal, or read from the
    first line of standard input when that is not a terminal (for scripts)."""
    settings = _settings()
    password = _new_password()

    async def create(session: AsyncSession) -> str:
        user = await dashboard_users.create_user(session, account, email=email, password=password)
        return user.id

    user_id = _in_transaction(settings, create)
    if as_json:
        typer.echo(json.dumps({"user_id": user_id, "email": dashboard_users.normalized_email(email)}))
    else:
        console.print(
            f"User {user_id} ({dashboard_users.normalized_email(email)}) can sign in at /dashboard/", markup=False
        )


def _new_password() -> str:
    if not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != password:
            _fail("the two passwords differ")
    if not password:
        _fail("no password given")
    with _expected_failures():
        dashboard_users.check_password(password)
    return password


# --- The at-rest key -------------------------------------------------------------------------------------------------


@secret_key_cli.command("rotate")
def secret_key_rotate() -> None:
    """Re-encrypt every sealed secret (processor credentials, webhook signing secrets) with a new key.

    Give the new key as CHECKSTAND_SECRET_KEY and the one in use now as CHECKSTAND_PREVIOUS_SECRET_KEY. Restart
    every process with both first (they then read secrets sealed with either), run this once, then drop
    CHECKSTAND_PREVIOUS_SECRET_KEY and restart again.
    """
    settings = _settings()
    keys = _at_rest_keys(settings)
    if len(keys) < 2:
        _fail("set CHECKSTAND_PREVIOUS_SECRET_KEY to the key in use now and CHECKSTAND_SECRET_KEY to the new one")
    if keys[0] == keys[1]:
        _fail("CHECKSTAND_SECRET_KEY and CHECKSTAND_PREVIOUS_SECRET_KEY are the same key")
    box = SecretBox(*keys)

    async def rotate(session: AsyncSession) -> tuple[int, int]:
        await _check_secret_key(session, settings)
        try:
            credentials = await connections.reseal_credentials(session, box)
            secrets = await webhook_endpoints.reseal_secrets(session, box)
        except ValueError as unreadable:
            raise CommandFailed(
                "a stored secret opens with neither key: is CHECKSTAND_PREVIOUS_SECRET_KEY the key in use now?"
            ) from unreadable
        await secret_key_check.record(session, keys[0])
        return credentials, secrets

    credentials, secrets = _in_transaction(settings, rotate)
    console.print(
        f"Re-encrypted {credentials} processor credential set(s) and {secrets} webhook signing secret(s) with the new "
        "key. Restart every process without CHECKSTAND_PREVIOUS_SECRET_KEY.",
        markup=False,
    )
