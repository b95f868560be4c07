"""Contract terms on both backends, billed by the worker on a test clock: a term that does not renew ends the
subscription at its end (no renewal invoice, ``subscription.canceled``), one that renews goes on into the next term,
a cancel at once during a term is refused while ``cancel_at_period_end`` waits for the term's end, a trial comes
before the term, and a plan change may not cut a term short."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.checkout import service as checkout_service
from checkstand.core.errors import BusinessRuleViolation, Conflict
from checkstand.customers import service as customers
from checkstand.db import Database
from checkstand.invoices.models import PAID
from checkstand.payments import renewals
from checkstand.subscriptions import changes
from checkstand.subscriptions import service as subscriptions
from checkstand.subscriptions.next_action import CANCEL, SCHEDULE_BILLING, decide
from checkstand.test_clocks import service as test_clocks
from tests.invoices.factory import fresh, saved_card, simulator_charges
from tests.payments.flow import gateway
from tests.payments.test_renewals import advance, cycle_invoices, event_types

START = datetime(2028, 1, 31, 10, 0, tzinfo=UTC)


def at(month: int, day: int, year: int = 2028) -> datetime:
    return datetime(year, month, day, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Contracted:
    account_id: str
    subscription_id: str
    clock_id: str
    product_id: str


async def contracted(
    database: Database,
    session: AsyncSession,
    account_id: str,
    *,
    term: int,
    auto_renew: bool,
    trial_days: int = 0,
) -> Contracted:
    """A committed monthly subscription to a price with a contract term of ``term`` months, its customer on a clock
    at ``START``, paying with a saved simulator card (as :func:`tests.invoices.factory.billing` makes one)."""
    processor_id, reference = await saved_card(database, session, account_id)
    clock = await test_clocks.create_test_clock(session, account_id, frozen_time=START, name="term")
    customer = await customers.create_customer(session, account_id, email="ada@example.test", test_clock_id=clock.id)
    product = await catalog.create_product(session, account_id, name="Pro")
    price = await catalog.create_price(
        session,
        account_id,
        product_id=product.id,
        currency="usd",
        unit_amount_atom=900,
        recurring_interval="month",
        trial_days=trial_days,
        contract_term_multiple=term,
        auto_renew=auto_renew,
    )
    checkout = await checkout_service.create_session(
        session,
        account_id,
        checkout_service.NewCheckoutSession(
            success_url="https://shop.example/ok",
            return_url="https://shop.example/cart",
            line_items=[checkout_service.LineItemSpec(price.id)],
            customer_id=customer.id,
        ),
    )
    subscription = await subscriptions.create_from_checkout(
        session,
        checkout,
        tier=0,
        customer_id=customer.id,
        payment_method_reference=reference,
        processor_id=processor_id,
    )
    assert subscription is not None
    await session.commit()
    return Contracted(account_id, subscription.id, clock.id, product.id)


async def test_a_term_that_does_not_renew_ends_the_subscription_at_its_end(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    account_id, _ = merchant
    setup = await contracted(database, session, account_id, term=3, auto_renew=False)
    pay = gateway(database)
    subscription = await fresh(session, setup.subscription_id)
    # Three months from January 31: the term ends on April 30, its periods' ends clamped as the periods' are.
    assert subscription.contract_term_end() == at(4, 30)
    assert subscription.snapshot()["contract_term_end"] == at(4, 30)
    before = await simulator_charges(session, account_id)

    await advance(pay, session, account_id, setup.clock_id, at(4, 1))
    subscription = await fresh(session, setup.subscription_id)
    assert (subscription.status, subscription.current_period_end) == ("active", at(4, 30))
    # The term's last period: what comes next is its end, and a manual renewal or an early invoice is refused.
    assert decide(subscription, at(4, 1), None, "cancel").action == CANCEL
    assert decide(subscription, at(4, 1), None, "cancel").reason == "contract_term_end"
    await session.commit()  # the test's session holds no write lock while the renewal takes one
    with pytest.raises(Conflict) as renew:
        await renewals.renew_subscription(pay, account_id, setup.subscription_id)
    assert renew.value.code == "contract_term_end"
    assert (await renewals.create_renewal_invoice(session, account_id, setup.subscription_id))[0] == renewals.SKIPPED
    await session.rollback()

    await advance(pay, session, account_id, setup.clock_id, at(8, 1))

    subscription = await fresh(session, setup.subscription_id)
    assert (subscription.status, subscription.ended_at) == ("canceled", at(4, 30))
    assert subscription.contract_term_end() is None
    invoices = await cycle_invoices(session, setup.subscription_id)
    # The first period was paid at checkout; the term's two others renewed; nothing after its end.
    assert [(invoice.period_start, invoice.period_end) for invoice in invoices] == [
        (at(2, 29), at(3, 31)),
        (at(3, 31), at(4, 30)),
    ]
    assert [invoice.status for invoice in invoices] == [PAID, PAID]
    assert await simulator_charges(session, account_id) - before == 2
    events = await event_types(session, setup.subscription_id)
    assert events.count("subscription.renewed") == 2
    assert events[-1] == "subscription.canceled"


async def test_a_renewing_term_goes_on_into_the_next_term(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    account_id, _ = merchant
    setup = await contracted(database, session, account_id, term=3, auto_renew=True)

    await advance(gateway(database), session, account_id, setup.clock_id, at(8, 1))

    subscription = await fresh(session, setup.subscription_id)
    assert subscription.status == "active"
    assert (subscription.current_period_start, subscription.current_period_end) == (at(7, 31), at(8, 31))
    # The third term (July 31 to October 31) runs.
    assert subscription.contract_term_end() == at(10, 31)
    invoices = await cycle_invoices(session, setup.subscription_id)
    assert [invoice.period_end for invoice in invoices] == [
        at(3, 31),
        at(4, 30),
        at(5, 31),
        at(6, 30),
        at(7, 31),
        at(8, 31),
    ]
    assert {invoice.status for invoice in invoices} == {PAID}


async def test_cancelling_during_a_term_waits_for_its_end(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    account_id, _ = merchant
    setup = await contracted(database, session, account_id, term=3, auto_renew=True)
    pay = gateway(database)

    with pytest.raises(Conflict) as now:
        await subscriptions.cancel(session, account_id, setup.subscription_id)
    assert now.value.code == "contract_term_commitment"
    assert "2028-04-30" in now.value.detail
    await session.rollback()
    await subscriptions.set_cancel_at_period_end(session, account_id, setup.subscription_id, True)
    await session.commit()
    subscription = await fresh(session, setup.subscription_id)
    # Set to end, but within its term: the next thing is February's renewal, not an end.
    assert decide(subscription, START, None, "cancel").action == SCHEDULE_BILLING

    await advance(pay, session, account_id, setup.clock_id, at(3, 15))
    subscription = await fresh(session, setup.subscription_id)
    assert (subscription.status, subscription.cancel_at_period_end) == ("active", True)
    with pytest.raises(Conflict):
        await subscriptions.cancel(session, account_id, setup.subscription_id)
    await session.rollback()

    await advance(pay, session, account_id, setup.clock_id, at(7, 1))
    subscription = await fresh(session, setup.subscription_id)
    assert (subscription.status, subscription.ended_at) == ("canceled", at(4, 30))
    assert [invoice.period_end for invoice in await cycle_invoices(session, setup.subscription_id)] == [
        at(3, 31),
        at(4, 30),
    ]


async def test_the_terms_last_period_may_be_cancelled_at_once(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    account_id, _ = merchant
    setup = await contracted(database, session, account_id, term=2, auto_renew=True)
    await advance(gateway(database), session, account_id, setup.clock_id, at(3, 1))

    canceled = await subscriptions.cancel(session, account_id, setup.subscription_id)
    await session.commit()

    assert canceled.status == "canceled"


async def test_a_trial_comes_before_the_term(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    account_id, _ = merchant
    setup = await contracted(database, session, account_id, term=1, auto_renew=False, trial_days=14)
    trial_end = START + timedelta(days=14)
    subscription = await fresh(session, setup.subscription_id)
    assert subscription.contract_term_end() == datetime(2028, 3, 14, 10, 0, tzinfo=UTC)
    # Nothing is owed yet during a trial: it may be cancelled at once (not done here: the term is what is tested).

    await advance(gateway(database), session, account_id, setup.clock_id, trial_end + timedelta(days=60))

    subscription = await fresh(session, setup.subscription_id)
    # The trial's end billed the one period of the term; the term's end ended it.
    assert (subscription.status, subscription.ended_at) == ("canceled", datetime(2028, 3, 14, 10, 0, tzinfo=UTC))
    invoices = await cycle_invoices(session, setup.subscription_id)
    assert [(invoice.period_start, invoice.status) for invoice in invoices] == [(trial_end, PAID)]


async def test_a_plan_change_may_not_cut_a_term_short(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    account_id, _ = merchant
    setup = await contracted(database, session, account_id, term=12, auto_renew=True)
    subscription = await fresh(session, setup.subscription_id)
    [item] = subscription.items

    async def monthly(term: int | None) -> str:
        price = await catalog.create_price(
            session,
            account_id,
            product_id=setup.product_id,
            currency="usd",
            unit_amount_atom=1900,
            recurring_interval="month",
            contract_term_multiple=term,
        )
        await session.commit()
        return price.id

    plain, yearly_term = await monthly(None), await monthly(12)
    with pytest.raises(BusinessRuleViolation) as shortened:
        await changes.update_items(
            session, account_id, setup.subscription_id, [changes.ItemChange(id=item.id, price_id=plain)]
        )
    assert shortened.value.code == "contract_term_shortened"
    await session.rollback()
    assert [i.price_id for i in (await fresh(session, setup.subscription_id)).items] == [item.price_id]

    changed = await changes.update_items(
        session, account_id, setup.subscription_id, [changes.ItemChange(id=item.id, price_id=yearly_term)]
    )
    await session.commit()
    assert [i.price_id for i in changed.items] == [yearly_term]
    assert changed.contract_term_end() == at(1, 31, 2029)
