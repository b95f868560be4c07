"""Customers service: creation, partial updates, addresses, external ids, look-ups and events, on both backends."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.core.clock import FrozenClock
from checkstand.core.errors import Conflict, InvalidFields, NotFound
from checkstand.custom_fields import service as custom_fields
from checkstand.customers import service as customers
from checkstand.customers.models import Customer
from checkstand.db import Database
from checkstand.events.models import Event


@pytest.fixture
async def account_id(session: AsyncSession) -> str:
    account = await accounts.create_account(session, name="Shop")
    await session.flush()
    return account.id


async def test_create_and_get(session: AsyncSession, account_id: str) -> None:
    created = await customers.create_customer(
        session,
        account_id,
        email="Ada@Example.com",
        first_name="Ada",
        last_name="Lovelace",
        address={"line1": "12 St James's Square", "country": "GB"},
        metadata={"crm": "42"},
        external_id="crm-42",
    )
    assert created.id.startswith("cus_")
    assert created.name == "Ada Lovelace"
    assert created.email == "Ada@Example.com"
    assert created.address is not None
    assert created.address["id"].startswith("addr_")
    assert created.address["line1"] == "12 St James's Square"
    assert created.address["city"] is None
    assert created.first_purchase_at is None
    assert await customers.get_customer(session, account_id, created.id) is created
    assert await customers.get_by_external_id(session, account_id, "crm-42") is created


async def test_another_accounts_customer_is_not_found(session: AsyncSession, account_id: str) -> None:
    other = await accounts.create_account(session, name="Other")
    theirs = await customers.create_customer(session, other.id, email="x@example.com", external_id="e1")
    with pytest.raises(NotFound) as raised:
        await customers.get_customer(session, account_id, theirs.id)
    assert raised.value.code == "customer_not_found"
    with pytest.raises(NotFound):
        await customers.get_by_external_id(session, account_id, "e1")
    with pytest.raises(NotFound):
        await customers.update_customer(session, account_id, theirs.id, {"first_name": "Mallory"})
    assert await customers.find_by_email(session, account_id, "x@example.com") is None


async def test_find_by_email_ignores_case_and_prefers_the_first_created(
    session: AsyncSession, account_id: str, frozen_clock: FrozenClock
) -> None:
    first = await customers.create_customer(session, account_id, email="Grace@Example.COM")
    frozen_clock.advance(timedelta(seconds=1))
    await customers.create_customer(session, account_id, email="grace@example.com")
    assert await customers.find_by_email(session, account_id, "GRACE@example.com") is first
    assert await customers.find_by_email(session, account_id, "nobody@example.com") is None


async def test_update_changes_only_what_is_sent(session: AsyncSession, account_id: str) -> None:
    customer = await customers.create_customer(
        session,
        account_id,
        email="a@example.com",
        first_name="Ada",
        last_name="Byron",
        phone="+44 20 7946 0000",
        metadata={"keep": "1", "drop": "2"},
        tax_ids=["GB123"],
    )
    updated = await customers.update_customer(
        session,
        account_id,
        customer.id,
        {"last_name": "Lovelace", "phone": None, "metadata": {"drop": "", "new": "3"}, "email": "ADA@example.com"},
    )
    assert updated.first_name == "Ada"
    assert updated.name == "Ada Lovelace"
    assert updated.phone is None
    assert updated.tax_ids == ["GB123"]
    assert updated.customer_metadata == {"keep": "1", "new": "3"}
    assert updated.email_normalized == "ada@example.com"
    assert updated.address is None

    cleared = await customers.update_customer(session, account_id, customer.id, {"metadata": None})
    assert cleared.customer_metadata == {}


async def test_addresses_are_replaced_with_new_ids(session: AsyncSession, account_id: str) -> None:
    customer = await customers.create_customer(session, account_id, email="a@example.com", address={"city": "Paris"})
    assert customer.address is not None
    old_id = customer.address["id"]
    billing = await customers.add_address(session, account_id, customer.id, "billing", {"city": "Lyon"})
    shipping = await customers.add_address(session, account_id, customer.id, "shipping", {"city": "Nice"})
    assert billing["id"] != old_id
    assert customer.address == billing
    assert customer.shipping_address == shipping
    assert shipping["city"] == "Nice"
    await customers.update_customer(session, account_id, customer.id, {"shipping_address": None})
    assert customer.shipping_address is None


async def test_a_taken_external_id_is_refused(session: AsyncSession, account_id: str) -> None:
    first = await customers.create_customer(session, account_id, email="a@example.com", external_id="crm-1")
    second = await customers.create_customer(session, account_id, email="b@example.com", external_id="crm-2")
    with pytest.raises(Conflict) as raised:
        await customers.create_customer(session, account_id, email="c@example.com", external_id="crm-1")
    assert raised.value.code == "customer_external_id_taken"
    with pytest.raises(Conflict) as raised:
        await customers.update_customer(session, account_id, second.id, {"external_id": "crm-1"})
    assert raised.value.code == "customer_external_id_taken"
    # Keeping one's own id, clearing it, and reusing a freed one are all fine.
    await customers.update_customer(session, account_id, first.id, {"external_id": "crm-1", "first_name": "A"})
    await customers.update_customer(session, account_id, first.id, {"external_id": None})
    await customers.update_customer(session, account_id, second.id, {"external_id": "crm-1"})
    other = await accounts.create_account(session, name="Other")
    await customers.create_customer(session, other.id, email="a@example.com", external_id="crm-1")


async def test_concurrent_creates_with_one_external_id_make_one_customer(
    database: Database, session: AsyncSession, account_id: str
) -> None:
    """Eight sessions create a customer with the same external id at once: the unique index lets one through
    and every other gets the 409 Conflict, whether it lost at the pre-check or at the insert."""
    await session.commit()

    async def create(n: int) -> str:
        async with database.writing() as racer:
            try:
                customer = await customers.create_customer(
                    racer, account_id, email=f"racer{n}@example.com", external_id="same"
                )
                await racer.commit()
                return customer.id
            except Conflict as conflict:
                await racer.rollback()
                return conflict.code

    outcomes = await asyncio.gather(*(create(n) for n in range(8)))
    winners = [outcome for outcome in outcomes if outcome.startswith("cus_")]
    assert len(winners) == 1
    assert sorted(set(outcomes) - set(winners)) == ["customer_external_id_taken"]
    count = await session.scalar(select(func.count()).select_from(Customer).where(Customer.account_id == account_id))
    assert count == 1


async def test_custom_fields_go_through_the_validator(session: AsyncSession, account_id: str) -> None:
    await custom_fields.create_definition(
        session,
        account_id,
        field_key="tier",
        entity_type="customer",
        data_type="select",
        display_name="Tier",
        constraints={"options": ["gold", "silver"]},
    )
    customer = await customers.create_customer(
        session, account_id, email="a@example.com", custom_fields={"tier": "gold"}
    )
    with pytest.raises(InvalidFields) as raised:
        await customers.update_customer(session, account_id, customer.id, {"custom_fields": {"tier": "bronze"}})
    assert raised.value.problems[0].path == ("custom_fields", "tier")
    assert customer.custom_fields == {"tier": "gold"}
    await customers.update_customer(session, account_id, customer.id, {"custom_fields": {"tier": None}})
    assert customer.custom_fields == {}
    with pytest.raises(InvalidFields):
        await customers.create_customer(session, account_id, email="b@example.com", custom_fields={"nope": 1})


async def test_first_purchase_is_set_once(session: AsyncSession, account_id: str, frozen_clock: FrozenClock) -> None:
    customer = await customers.create_customer(session, account_id, email="a@example.com")
    first = frozen_clock.now()
    await customers.mark_first_purchase(session, customer)
    frozen_clock.advance(timedelta(days=3))
    await customers.mark_first_purchase(session, customer)
    assert customer.first_purchase_at == first


async def test_changes_record_events(session: AsyncSession, account_id: str) -> None:
    customer = await customers.create_customer(session, account_id, email="a@example.com", first_name="Ada")
    await customers.update_customer(session, account_id, customer.id, {"first_name": "Grace"})
    await customers.update_customer(session, account_id, customer.id, {"first_name": "Grace"})
    await customers.add_address(session, account_id, customer.id, "billing", {"city": "Oslo"})
    events = (await session.scalars(select(Event).where(Event.account_id == account_id).order_by(Event.seq))).all()
    assert [e.type for e in events] == ["customer.created", "customer.updated", "customer.updated"]
    assert events[0].data["email"] == "a@example.com"
    assert events[0].data["custom_fields"] == {}
    assert events[1].previous_data == {"first_name": "Ada", "name": "Ada"}
    assert events[2].previous_data == {"address": None}
    assert events[2].data["address"]["city"] == "Oslo"
