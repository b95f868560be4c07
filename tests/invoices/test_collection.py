"""Collecting an invoice by hand races nothing into a second charge: concurrent collects of one open renewal invoice
make one processor charge, one of them answers paid and the others a conflict, and the subscription moves to the
period paid for once. A manual invoice refused for bad input leaves nothing behind."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core.errors import Conflict, InvalidFields
from checkstand.db import Database
from checkstand.invoices import manual
from checkstand.invoices.models import PAID, Invoice
from checkstand.payments import collection, renewals
from checkstand.payments.models import SUCCEEDED, PaymentCharge
from tests.invoices.factory import AMOUNT, billing, fresh, simulator_charges
from tests.payments.flow import gateway

START = datetime(2028, 1, 31, 10, 0, tzinfo=UTC)
RACERS = 4


async def test_concurrent_collects_charge_an_invoice_once(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    account_id = merchant[0]
    made = await billing(database, session, account_id, frozen_time=START)
    before = await fresh(session, made.subscription_id)
    period_end = before.current_period_end
    status, invoice, _ = await renewals.create_renewal_invoice(session, account_id, made.subscription_id)
    assert status == renewals.INVOICE_CREATED
    assert invoice is not None
    await session.commit()
    charges_before = await simulator_charges(session, account_id)
    await session.commit()  # the test's session holds no transaction (on SQLite, the write lock) while they race

    async def collect() -> str:
        try:
            return (await collection.collect_invoice(gateway(database), account_id, invoice.id)).payment_status
        except Conflict:
            return "conflict"

    outcomes = await asyncio.gather(*(collect() for _ in range(RACERS)))

    assert sorted(outcomes) == ["conflict"] * (RACERS - 1) + ["paid"]
    await session.rollback()
    assert await simulator_charges(session, account_id) == charges_before + 1
    succeeded = await session.scalar(
        select(func.count()).where(PaymentCharge.account_id == account_id, PaymentCharge.status == SUCCEEDED)
    )
    assert succeeded == 1
    paid = await session.get(Invoice, invoice.id, populate_existing=True)
    assert paid is not None
    assert (paid.status, paid.paid_atom) == (PAID, AMOUNT)
    after = await fresh(session, made.subscription_id)
    assert (after.status, after.current_period_start) == ("active", period_end)


async def test_a_refused_manual_invoice_stores_nothing(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    account_id = merchant[0]
    made = await billing(database, session, account_id)
    refused = manual.NewInvoice(
        customer_id=made.customer_id,
        currency="usd",
        issued_at=START,
        lines=[manual.NewLine(name="Fine"), manual.NewLine(name="Too much", unit_amount_atom=10**12)],
    )

    with pytest.raises(InvalidFields) as problems:
        await manual.create_manual_invoice(session, account_id, refused)

    assert [problem.path for problem in problems.value.problems] == [("items", 0, "unit_amount")]
    assert await session.scalar(select(func.count()).where(Invoice.account_id == account_id)) == 0
