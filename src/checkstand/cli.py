"""The ``checkstand`` command: serve, worker, migrate, and account and key administration."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
import uvicorn
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand import migrations
from checkstand.accounts import service as accounts
from checkstand.accounts.models import Account
from checkstand.app import create_app
from checkstand.db import connect
from checkstand.processors import connections
from checkstand.settings import Settings
from checkstand.worker import Worker

app = typer.Typer(help="Checkstand: a self-hosted checkout service.", no_args_is_help=True)
accounts_cli = typer.Typer(help="Merchant accounts.", no_args_is_help=True)
keys_cli = typer.Typer(help="Secret API keys of an account.", no_args_is_help=True)
app.add_typer(accounts_cli, name="accounts")
app.add_typer(keys_cli, name="keys")
console = Console()

T = TypeVar("T")

AccountOption = Annotated[str, typer.Option("--account", help="The account id (acct_...).")]


def main() -> None:
    app()


def _settings(**overrides: object) -> Settings:
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


def _in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def run() -> T:
        database = connect(settings.resolved_database_url)
        try:
            async with database.writing() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await database.dispose()

    return asyncio.run(run())


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Leave background jobs to `checkstand worker`.")
    ] = False,
) -> None:
    """Run the API, hosted pages and (unless --no-worker) the background worker in one process."""
    settings = _settings(host=host, port=port)
    migrations.upgrade(settings.resolved_database_url)
    _announce_demo_account(settings)
    uvicorn.run(
        create_app(settings, run_worker=not no_worker),
        host=settings.host,
        port=settings.port,
        access_log=False,  # ours redacts tokens in paths; see core/request_context.py
        log_level=settings.log_level,
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
    async def ensure(session: AsyncSession) -> tuple[str, str | None]:
        existing = await accounts.find_demo_account(session)
        if existing is not None:
            return existing.id, None
        account, issued = await create_demo_account(session)
        return account.id, issued.secret

    account_id, secret = _in_transaction(settings, ensure)
    base = settings.resolved_public_url
    console.print(f"Checkstand is starting at [bold]{base}[/bold]")
    console.print(f"  API:        {base}/api/")
    console.print(f"  API docs:   {base}/docs")
    console.print(f"  Demo account: {account_id}")
    if secret is not None:
        console.print(f"  Secret key:   {secret}   (shown once: store it now)", soft_wrap=True)
    else:
        console.print(
            f"  Secret key:   shown on first start; make another with `checkstand keys create --account {account_id}`"
        )


@app.command()
def worker() -> None:
    """Run only the background worker (webhook delivery, expiry, recovery). Stops cleanly on SIGTERM."""
    settings = _settings()

    async def run() -> None:
        database = connect(settings.resolved_database_url)
        loop_worker = Worker(database, settings)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, loop_worker.stop)
        try:
            await loop_worker.run()
        finally:
            await database.dispose()

    asyncio.run(run())


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    settings = _settings()
    migrations.upgrade(settings.resolved_database_url)
    console.print("Database is up to date.")


@accounts_cli.command("create")
def accounts_create(
    name: Annotated[str, typer.Option(help="The merchant's name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
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
        console.print(f"Account:    {account_id}\nSecret key: {secret}   (shown once)", soft_wrap=True)


@keys_cli.command("create")
def keys_create(
    account: AccountOption,
    description: Annotated[str | None, typer.Option(help="What the key is for.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Create a secret key; it is printed once and stored only as a hash."""
    settings = _settings()

    async def create(session: AsyncSession) -> tuple[str, str]:
        issued = await accounts.create_api_key(
            session, await accounts.get_account(session, account), description=description
        )
        return issued.key.id, issued.secret

    key_id, secret = _run_or_exit(lambda: _in_transaction(settings, create))
    if as_json:
        typer.echo(json.dumps({"key_id": key_id, "secret_key": secret}))
    else:
        console.print(f"Key:        {key_id}\nSecret key: {secret}   (shown once)", soft_wrap=True)


@keys_cli.command("list")
def keys_list(
    account: AccountOption,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """List an account's keys (previews only; secrets are never stored)."""
    settings = _settings()
    keys = _run_or_exit(lambda: _in_transaction(settings, lambda s: accounts.list_api_keys(s, account)))
    rows = [
        {
            "key_id": key.id,
            "preview": key.secret_token_preview,
            "active": key.is_active,
            "created_at": key.created_at.isoformat(timespec="seconds"),
            "description": key.description or "",
        }
        for key in keys
    ]
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
    _run_or_exit(lambda: _in_transaction(settings, lambda s: accounts.revoke_api_key(s, account, key_id)))
    console.print(f"Revoked {key_id}.")


def _run_or_exit(work: Callable[[], T]) -> T:
    from checkstand.core.errors import CheckstandError

    try:
        return work()
    except CheckstandError as error:
        console.print(f"[red]{error.detail}[/red]")
        raise typer.Exit(code=1) from error
