from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.db import Database


@pytest.fixture
async def account_id(session: AsyncSession) -> str:
    account = await accounts.create_account(session, name="Shop")
    await session.flush()
    return account.id


@pytest.fixture
async def other_account_id(session: AsyncSession) -> str:
    account = await accounts.create_account(session, name="Someone else")
    await session.flush()
    return account.id


@pytest.fixture
async def committed_account_id(database: Database) -> str:
    """An account other sessions can see: for tests that race several sessions."""
    async with database.writing() as session:
        account = await accounts.create_account(session, name="Racing shop")
        await session.commit()
        return account.id


async def warm_pool(database: Database, size: int) -> None:
    """Open ``size`` pooled connections before a race, so the racers start together instead of one finishing while
    the next is still connecting."""
    connections = [await database.engine.connect() for _ in range(size)]
    for connection in connections:
        await connection.close()
