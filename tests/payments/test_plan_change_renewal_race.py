"""A plan-change checkout paid while the worker renews the same subscription, raced for real on both backends: the
customer (on no test clock, so on the real, here frozen, clock) confirms an upgrade priced shortly before the
period's end, and a worker's renewal job starts at the same moment just after that end, each on its own engine as
separate processes would be. Over several rounds (a fresh subscription each) the two land in either order, and in
every round: the subscription holds one plan; the renewed period is invoiced once, at the plan the subscription holds
in it; the money the customer's charges took less succeeded refunds is what the paid invoices came to; a change that
didn't apply took nothing or was refunded in full."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from typing import Final, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.checkout import service as checkout_service
from checkstand.core.clock import FrozenClock
from checkstand.core.errors import Conflict
from checkstand.db import Database
from checkstand.invoices.models import PAID, SUBSCRIPTION_UPDATE, Invoice, InvoiceLine
from checkstand.payments import flow, plan_change_sessions, renewals
from checkstand.payments.models import FAILED, SUCCEEDED, CheckoutAttempt, Payment, PaymentCharge, Refund
from checkstand.payments.refunds import REFUND_SUCCEEDED
from checkstand.subscriptions import service as subscriptions
from tests.invoices.factory import AMOUNT, billing, fresh
from tests.payments.flow import card, gateway
from tests.payments.test_renewals import cycle_invoices
from tests.support import connect_url

T = TypeVar("T")

PRO: Final = 30_000  # dear enough that the last hours of a period at the difference are a charge worth taking
PRICED_BEFORE_END: Final = timedelta(hours=6)
# The confirm's head start over the renewal job, in seconds (negative: the renewal starts first). Dead heats and a
# few milliseconds, where each lands inside the other's transactions; which wins varies from run to run.
HEAD_STARTS: Final = (0.0, 0.0, 0.005, -0.005, 0.0, 0.02, -0.02)
# Should those rounds all have gone one way, the other side is given a head start doubling from this until it wins.
WIDER_HEAD_START: Final = 0.05
MAX_HEAD_START: Final = 3.0
APPLIED, REFUSED, REFUNDED = "applied", "refused", "refunded"


async def _after(delay: float, work: Awaitable[T]) -> T:
    await asyncio.sleep(delay)
    return await work


async def _taken(session: AsyncSession, customer_id: str) -> int:
    """What the customer's charges took less what their succeeded refunds gave back."""
    charged = await session.scalar(
        select(func.coalesce(func.sum(PaymentCharge.amount_atom), 0)).where(
            PaymentCharge.customer_id == customer_id, PaymentCharge.status == SUCCEEDED
        )
    )
    refunded = await session.scalar(
        select(func.coalesce(func.sum(Refund.amount_atom), 0))
        .join(PaymentCharge, PaymentCharge.id == Refund.charge_id)
        .where(PaymentCharge.customer_id == customer_id, Refund.status == REFUND_SUCCEEDED)
    )
    return int(charged or 0) - int(refunded or 0)


async def _invoiced(session: AsyncSession, customer_id: str) -> int:
    """What the customer's paid invoices came to."""
    paid = await session.scalar(
        select(func.coalesce(func.sum(Invoice.paid_atom), 0)).where(
            Invoice.customer_id == customer_id, Invoice.status == PAID
        )
    )
    return int(paid or 0)


async def _race_once(
    database: Database,
    database_url: str,
    session: AsyncSession,
    account_id: str,
    frozen_clock: FrozenClock,
    head_start: float,
) -> str:
    """One round: a fresh Basic subscription, an upgrade to Pro priced six hours before its period's end, then the
    confirm and the renewal job at once a second after that end. Checks the round's invariants; says how it went."""
    setup = await billing(database, session, account_id)
    subscription = await fresh(session, setup.subscription_id)
    old_start, old_end = subscription.current_period_start, subscription.current_period_end
    basic = subscription.items[0].price_id
    pro = await catalog.create_price(
        session,
        account_id,
        product_id=subscription.items[0].product_id,
        currency="usd",
        unit_amount_atom=PRO,
        recurring_interval="month",
    )
    await session.commit()
    frozen_clock.advance(old_end - PRICED_BEFORE_END - frozen_clock.now())
    checkout = await checkout_service.create_session(
        session,
        account_id,
        checkout_service.NewCheckoutSession(
            success_url="https://shop.example/ok",
            return_url="https://shop.example/cart",
            line_items=[checkout_service.LineItemSpec(pro.id)],
            customer_id=setup.customer_id,
        ),
        plan_change=plan_change_sessions.price_session,
    )
    await session.commit()  # the test's own session holds no write lock while the two race
    assert checkout.changes_subscription_id == setup.subscription_id
    due_today = checkout.amount_due_today_atom
    assert due_today > 0
    frozen_clock.advance(PRICED_BEFORE_END + timedelta(seconds=1))

    # The customer's request and the worker, each on an engine of its own.
    engines = [connect_url(database_url) for _ in range(2)]
    try:
        paid, renewed = await asyncio.gather(
            _after(
                max(-head_start, 0),
                flow.confirm(gateway(engines[0]), checkout.secure_token, flow.Confirmation(payment_method=card())),
            ),
            _after(max(head_start, 0), renewals.renew_due(gateway(engines[1]))),
            return_exceptions=True,
        )
    finally:
        for engine in engines:
            await engine.dispose()

    assert renewed == 1, renewed
    if isinstance(paid, Conflict):
        assert paid.code == "plan_change_stale", paid
        outcome = REFUSED
    else:
        assert isinstance(paid, CheckoutAttempt), paid
        assert paid.state in (SUCCEEDED, FAILED), paid.state
        outcome = APPLIED if paid.state == SUCCEEDED else REFUNDED

    # One plan; the renewed period invoiced once, paid, at that plan.
    subscription = await fresh(session, setup.subscription_id)
    await session.refresh(subscription, ["items"])
    assert [(item.price_id, item.unit_amount_atom) for item in subscription.items] == (
        [(pro.id, PRO)] if outcome == APPLIED else [(basic, AMOUNT)]
    )
    assert subscription.current_period_start == old_end
    [renewal] = await cycle_invoices(session, setup.subscription_id)
    assert (renewal.status, renewal.period_start) == (PAID, old_end)
    billed = await session.execute(
        select(InvoiceLine.price_id, InvoiceLine.amount_atom).where(InvoiceLine.invoice_id == renewal.id)
    )
    assert [tuple(line) for line in billed] == [
        (subscription.items[0].price_id, subscription.items[0].unit_amount_atom)
    ]

    payments = list(await session.scalars(select(Payment).where(Payment.checkout_session_id == checkout.id)))
    updates = list(
        await session.scalars(
            select(Invoice).where(
                Invoice.subscription_id == setup.subscription_id, Invoice.billing_reason == SUBSCRIPTION_UPDATE
            )
        )
    )
    if outcome == REFUSED:
        # Refused before the charge: no money moved for the change.
        assert (payments, updates) == ([], [])
    elif outcome == REFUNDED:
        # Charged while the renewal was made: given back whole, and recorded as such.
        [payment] = payments
        assert payment.amount_atom == payment.amount_refunded_atom == due_today
        refund = await session.scalar(select(Refund).where(Refund.payment_id == payment.id))
        assert refund is not None
        assert (refund.status, refund.amount_atom) == (REFUND_SUCCEEDED, due_today)
        assert refund.refund_metadata["cause"] == "plan_change_not_applied"
        assert updates == []
    else:
        [payment] = payments
        [update] = updates
        assert (update.status, update.paid_atom, payment.amount_atom) == (PAID, due_today, due_today)
        # Priced on the period it applied in: a session priced before the period's end applies only before the
        # renewal is made (which then bills Pro, as checked above), never into the renewed period.
        assert checkout.proration is not None
        assert (checkout.proration["period_start"], checkout.proration["period_end"]) == (
            old_start.isoformat(),
            old_end.isoformat(),
        )
    taken = await _taken(session, setup.customer_id)
    assert taken == await _invoiced(session, setup.customer_id)
    assert taken == (due_today + PRO if outcome == APPLIED else AMOUNT)

    # Done with: the next rounds' renewal jobs leave it be.
    await subscriptions.cancel(session, account_id, setup.subscription_id)
    await session.commit()
    return outcome


async def test_a_plan_change_paid_while_the_renewal_runs_applies_once_and_conserves_money(
    database: Database, database_url: str, session: AsyncSession, merchant: tuple[str, str], frozen_clock: FrozenClock
) -> None:
    async def race(head_start: float) -> str:
        return await _race_once(database, database_url, session, merchant[0], frozen_clock, head_start)

    outcomes = [await race(head_start) for head_start in HEAD_STARTS]
    head_start = WIDER_HEAD_START
    while (APPLIED not in outcomes or set(outcomes) == {APPLIED}) and head_start <= MAX_HEAD_START:
        outcomes.append(await race(head_start if APPLIED not in outcomes else -head_start))
        head_start *= 2

    assert APPLIED in outcomes, outcomes
    assert set(outcomes) - {APPLIED}, outcomes
