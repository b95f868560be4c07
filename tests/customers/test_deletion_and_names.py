"""Deleting a customer (kept, no longer found, its external id freed), full names split as the hosted page splits
them, and Paid's customer list filters, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.core.errors import InvalidFields, NotFound
from checkstand.core.listing import ListParams
from checkstand.core.pagination import PageParams
from checkstand.customers import service as customers
from checkstand.events.models import Event


@pytest.fixture
async def account_id(session: AsyncSession) -> str:
    account = await accounts.create_account(session, name="Shop")
    await session.flush()
    return account.id


async def test_a_deleted_customer_is_kept_but_found_nowhere(session: AsyncSession, account_id: str) -> None:
    gone = await customers.create_customer(session, account_id, email="Gone@example.com", external_id="crm-1")
    await customers.delete_customer(session, account_id, gone.id)
    assert gone.deleted_at is not None
    assert gone.external_id is None
    with pytest.raises(NotFound):
        await customers.get_customer(session, account_id, gone.id)
    with pytest.raises(NotFound):
        await customers.get_by_external_id(session, account_id, "crm-1")
    assert await customers.find_by_email(session, account_id, "gone@example.com") is None
    with pytest.raises(InvalidFields):
        await customers.existing_ids(session, account_id, [gone.id], ("exclusive_customer_ids",))
    assert (await customers.list_customers(session, account_id, ListParams(page=PageParams()))).total == 0
    assert (await customers.find_customers(session, account_id, PageParams())).total == 0
    again = await customers.create_customer(session, account_id, email="gone@example.com", external_id="crm-1")
    assert (await customers.get_by_external_id(session, account_id, "crm-1")).id == again.id
    types = await session.scalars(select(Event.type).where(Event.aggregate_id == gone.id).order_by(Event.seq))
    assert list(types) == ["customer.created", "customer.deleted"]
    with pytest.raises(NotFound):
        await customers.delete_customer(session, account_id, gone.id)


async def test_a_full_name_is_split_at_its_first_space(session: AsyncSession, account_id: str) -> None:
    made = await customers.create_customer(session, account_id, email=None, name="  Ada King Lovelace ")
    assert (made.first_name, made.last_name, made.name) == ("Ada", "King Lovelace", "Ada King Lovelace")
    single = await customers.update_customer(session, account_id, made.id, {"name": "Acme"})
    assert (single.first_name, single.last_name, single.name) == ("Acme", None, "Acme")
    with pytest.raises(InvalidFields) as long_word:
        await customers.update_customer(session, account_id, made.id, {"name": "x" * 101})
    assert [problem.path for problem in long_word.value.problems] == [("name",)]
    assert made.name == "Acme"


async def test_paid_filters(session: AsyncSession, account_id: str) -> None:
    ada = await customers.create_customer(session, account_id, email=None, name="Ada", business_name="Engines Ltd")
    bob = await customers.create_customer(session, account_id, email=None, name="Bob 100%", external_id="b")
    await customers.update_customer(session, account_id, bob.id, {"churned_at": datetime(2030, 1, 1, tzinfo=UTC)})

    async def found(**filters: object) -> list[str]:
        page = await customers.find_customers(session, account_id, PageParams(), **filters)  # type: ignore[arg-type]
        return [customer.id for customer in page.items]

    assert await found() == [bob.id, ada.id]
    assert await found(name="ENGINES") == [ada.id]
    assert await found(name="100%") == [bob.id]
    assert await found(name="10_%") == []
    assert await found(churned=True) == [bob.id]
    assert await found(churned=False) == [ada.id]
    assert await found(external_id="b") == [bob.id]
    soon = ada.created_at + timedelta(days=1)
    assert await found(created_from=soon) == []
    assert await found(created_to=soon) == [bob.id, ada.id]
