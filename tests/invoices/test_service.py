"""Invoices: numbered per account from 1, their state changes announced, one renewal invoice per period, and the
subscription's discount applied on renewals by its terms (once, repeating N months, forever)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.core.errors import Conflict
from checkstand.core.listing import ListParams
from checkstand.core.pagination import PageParams
from checkstand.db import Database
from checkstand.events.models import Event
from checkstand.invoices import renewal
from checkstand.invoices import service as invoices
from checkstand.invoices.models import MANUAL, PAID, VOID
from tests.invoices.factory import billing, fresh

START = datetime(2028, 1, 31, 10, 0, tzinfo=UTC)


def line(amount: int = 500, quantity: int = 2) -> invoices.LineSpec:
    return invoices.LineSpec(name="Widget", quantity=quantity, unit_amount_atom=amount)


async def test_numbers_run_per_account_and_changes_are_announced(
    session: AsyncSession, merchant: tuple[str, str]
) -> None:
    account_id, _ = merchant
    setup_customer = await billing_customer(session, account_id)
    made = [
        await invoices.create_invoice(
            session,
            account_id,
            customer_id=setup_customer,
            currency="usd",
            lines=[line()],
            billing_reason=MANUAL,
            issued_at=START,
            discount_atom=100,
        )
        for _ in range(3)
    ]
    other = await accounts.create_account(session, name="Other")
    other_customer = await billing_customer(session, other.id)
    elsewhere = await invoices.create_invoice(
        session,
        other.id,
        customer_id=other_customer,
        currency="usd",
        lines=[line()],
        billing_reason=MANUAL,
        issued_at=START,
    )
    assert [invoice.number for invoice in made] == [1, 2, 3]
    assert elsewhere.number == 1
    assert (made[0].subtotal_atom, made[0].discount_atom, made[0].total_atom) == (1000, 100, 900)

    await invoices.mark_paid(session, made[0], paid_at=START, amount_atom=900)
    await invoices.void(session, made[1])
    with pytest.raises(Conflict):
        await invoices.void(session, made[0])
    with pytest.raises(Conflict):
        await invoices.mark_paid(session, made[1], paid_at=START, amount_atom=900)
    types = (
        await session.scalars(select(Event.type).where(Event.aggregate_id == made[0].id).order_by(Event.seq))
    ).all()
    assert list(types) == ["invoice.created", "invoice.paid"]

    page = await invoices.list_invoices(session, account_id, ListParams(PageParams(limit=10, offset=0)), status=PAID)
    assert [invoice.id for invoice in page.items] == [made[0].id]
    assert made[1].status == VOID


async def billing_customer(session: AsyncSession, account_id: str) -> str:
    from checkstand.customers import service as customers

    return (await customers.create_customer(session, account_id, email="c@example.test")).id


async def test_a_period_is_invoiced_once(database: Database, session: AsyncSession, merchant: tuple[str, str]) -> None:
    account_id, _ = merchant
    setup = await billing(database, session, account_id, frozen_time=START)
    subscription = await fresh(session, setup.subscription_id)
    start, end = renewal.next_period(subscription)
    assert (start, end) == (datetime(2028, 2, 29, 10, tzinfo=UTC), datetime(2028, 3, 31, 10, tzinfo=UTC))
    first = await renewal.build_renewal_invoice(session, subscription, start, end)
    assert (first.total_atom, first.issued_at, [item.amount_atom for item in first.lines]) == (900, start, [900])
    await session.commit()
    with pytest.raises(IntegrityError):
        await renewal.build_renewal_invoice(session, subscription, start, end)
    await session.rollback()


@pytest.mark.parametrize(
    ("terms", "discounted_months"),
    [
        ({"duration": "forever"}, [True, True, True, True]),
        ({"duration": "repeating", "duration_in_months": 2}, [True, False, False, False]),
        ({"duration": "once"}, [False, False, False, False]),
    ],
)
async def test_renewals_take_the_discount_by_its_terms(
    database: Database,
    session: AsyncSession,
    merchant: tuple[str, str],
    terms: dict[str, object],
    discounted_months: list[bool],
) -> None:
    account_id, _ = merchant
    setup = await billing(database, session, account_id, frozen_time=START)
    subscription = await fresh(session, setup.subscription_id)
    subscription.discount = {
        "id": "coupon_x",
        "name": "Quarter off",
        "discount_type": "percent_off",
        "percent_off_bp": 2500,
        "amount_atom_off": None,
        "trial_days_off": None,
        "currency": None,
        "product_ids": None,
        "duration_in_months": None,
        **terms,
    }
    got = []
    # The subscription's renewals: 29 Feb, 31 Mar, 30 Apr, 31 May (its checkout, on 31 Jan, was the first month).
    for month, day in ((2, 29), (3, 31), (4, 30), (5, 31)):
        period_start = START.replace(month=month, day=day)
        lines = renewal.renewal_lines(subscription, period_start, period_start)
        got.append(renewal.renewal_discount(subscription, lines, period_start) == 225)
    assert got == discounted_months
    preview = await renewal.preview_renewal(session, subscription)
    assert (preview.subtotal_atom, preview.total_atom) == (900, 675 if discounted_months[0] else 900)
    await session.rollback()
