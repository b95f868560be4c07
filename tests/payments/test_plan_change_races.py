"""Money is never lost or taken twice by a plan change, on both backends: a change that owes nothing completes with no
processor call and credits the customer's balance; two changes paid at once apply one and refuse the other before the
charge; a change whose money was taken while a renewal moved the subscription on (a checkout, or the API's
``always_invoice``) is refunded in full and recorded, never leaving a subscription on two plans."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout.models import CheckoutSession
from checkstand.core.errors import Conflict
from checkstand.customers.models import Customer
from checkstand.db import Database
from checkstand.events.models import Event
from checkstand.invoices.models import SUBSCRIPTION_UPDATE, VOID, Invoice
from checkstand.payments import flow, leases, off_session
from checkstand.payments import plan_changes as payment_plan_changes
from checkstand.payments.models import Payment, PaymentCharge, ProcessorAttempt, Refund
from checkstand.payments.refunds import REFUND_SUCCEEDED
from checkstand.subscriptions import changes
from checkstand.subscriptions import service as subscriptions
from checkstand.subscriptions.models import Subscription
from tests.invoices.factory import AMOUNT, fresh, monthly_price_of_its_product, simulator_charges
from tests.payments.flow import card, gateway
from tests.payments.plan_change_setup import mid_period, plan_change_session
from tests.payments.test_renewals import advance

PERIOD_END = datetime(2028, 2, 29, 10, 0, tzinfo=UTC)
PRO = 3000
LITE = 300


async def _taken(session: AsyncSession, customer_id: str) -> int:
    """What the customer's charges took less what their refunds gave back (succeeded ones only)."""
    charged = await session.scalar(
        select(func.coalesce(func.sum(PaymentCharge.amount_atom), 0)).where(
            PaymentCharge.customer_id == customer_id, PaymentCharge.status == "succeeded"
        )
    )
    refunded = await session.scalar(
        select(func.coalesce(func.sum(Refund.amount_atom), 0))
        .join(PaymentCharge, PaymentCharge.id == Refund.charge_id)
        .where(PaymentCharge.customer_id == customer_id, Refund.status == REFUND_SUCCEEDED)
    )
    await session.commit()  # on SQLite, a transaction left open holds the write lock
    return int(charged or 0) - int(refunded or 0)


async def _plan(session: AsyncSession, subscription_id: str) -> list[tuple[str, int]]:
    subscription = await fresh(session, subscription_id)
    await session.refresh(subscription, ["items"])
    return [(item.price_id, item.unit_amount_atom) for item in subscription.items]


async def test_a_downgrade_completes_with_no_processor_call_and_credits_the_unused_time(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    setup = await mid_period(database, session, merchant[0])
    lite = await monthly_price_of_its_product(session, setup, LITE)
    checkout = await plan_change_session(session, setup, lite)
    assert checkout.proration is not None
    credit = -int(checkout.proration["net_atom"])
    assert credit > 0
    calls = await simulator_charges(session, setup.account_id)
    await session.commit()

    attempt = await flow.confirm(gateway(database), checkout.secure_token, flow.Confirmation(payment_method=card()))

    assert attempt.state == "succeeded"
    assert [(t.from_state, t.to_state) for t in attempt.transitions] == [
        ("pending", "processing"),
        ("processing", "succeeded"),
    ]
    assert attempt.transitions[-1].context == {"reason": flow.NOTHING_DUE}
    assert await session.scalar(select(func.count()).where(ProcessorAttempt.checkout_attempt_id == attempt.id)) == 0
    assert await simulator_charges(session, setup.account_id) == calls
    assert await session.scalar(select(func.count()).where(Payment.checkout_session_id == checkout.id)) == 0
    assert await _plan(session, setup.subscription_id) == [(lite, LITE)]
    customer = await session.get(Customer, setup.customer_id, populate_existing=True)
    assert customer is not None
    assert (customer.credit_balance_atom, customer.credit_balance_currency) == (credit, "usd")
    completed = await session.get(CheckoutSession, checkout.id, populate_existing=True)
    assert completed is not None
    assert completed.status == "success"


async def test_two_changes_paid_at_once_apply_one_and_charge_once(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    setup = await mid_period(database, session, merchant[0])
    pro = await monthly_price_of_its_product(session, setup, PRO)
    first, second = await plan_change_session(session, setup, pro), await plan_change_session(session, setup, pro)
    before = await _taken(session, setup.customer_id)

    results = await asyncio.gather(
        *(
            flow.confirm(gateway(database), c.secure_token, flow.Confirmation(payment_method=card()))
            for c in (first, second)
        ),
        return_exceptions=True,
    )

    succeeded = [r for r in results if not isinstance(r, BaseException) and r.state == "succeeded"]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert (len(succeeded), len(refused)) == (1, 1), results
    assert refused[0].code in {"plan_change_in_progress", "plan_change_stale"}
    assert await _plan(session, setup.subscription_id) == [(pro, PRO)]
    assert await _taken(session, setup.customer_id) - before == first.amount_due_today_atom


async def test_a_checkout_charged_while_a_renewal_moved_the_subscription_on_is_refunded_in_full(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    setup = await mid_period(database, session, merchant[0])
    assert setup.clock_id is not None
    pro = await monthly_price_of_its_product(session, setup, PRO)
    checkout = await plan_change_session(session, setup, pro)
    gateway_ = gateway(database)
    before = await _taken(session, setup.customer_id)
    # The attempt is started (the subscription held and checked) and its charge committed as pending; then, before
    # the processor is called, the renewal runs: the window between the payment's start and its answer.
    async with database.writing() as writing:
        attempt, pending = await flow.begin_attempt(
            writing,
            checkout.secure_token,
            flow.Confirmation(payment_method=card()),
            public_url=gateway_.public_url,
            limits=gateway_.policy.rate_limits,
        )
        await leases.hold(writing, attempt.id, gateway_.policy.attempt_lease, gateway_.lease_owner)
        await writing.commit()
    await advance(gateway_, session, setup.account_id, setup.clock_id, PERIOD_END + timedelta(hours=1))
    renewed = await _taken(session, setup.customer_id)
    assert renewed - before == AMOUNT

    done = await flow.drive(gateway_, setup.account_id, attempt.id, pending, card())

    assert done.state == "failed"
    assert done.error_message_for_debug is not None
    assert "Refunded in full" in done.error_message_for_debug
    payment = await session.scalar(select(Payment).where(Payment.checkout_session_id == checkout.id))
    assert payment is not None
    assert payment.amount_atom == checkout.amount_due_today_atom > 0
    assert payment.amount_refunded_atom == payment.amount_atom
    refund = await session.scalar(select(Refund).where(Refund.payment_id == payment.id))
    assert refund is not None
    assert (refund.status, refund.amount_atom) == (REFUND_SUCCEEDED, payment.amount_atom)
    assert refund.refund_metadata["cause"] == "plan_change_not_applied"
    # One plan, and the money taken is exactly the renewal's.
    assert len(await _plan(session, setup.subscription_id)) == 1
    assert (await _plan(session, setup.subscription_id))[0][1] == AMOUNT
    assert await _taken(session, setup.customer_id) == renewed
    # Nothing was bought: the session is not completed (here the clock's advance has expired it meanwhile).
    unbought = await session.get(CheckoutSession, checkout.id, populate_existing=True)
    assert unbought is not None
    assert unbought.status != "success"


async def test_an_always_invoice_change_charged_across_a_cancellation_is_voided_and_refunded(
    database: Database, session: AsyncSession, merchant: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = await mid_period(database, session, merchant[0])
    assert setup.clock_id is not None
    pro = await monthly_price_of_its_product(session, setup, PRO)
    item = (await fresh(session, setup.subscription_id)).items[0]
    await session.commit()
    gateway_ = gateway(database)
    before = await _taken(session, setup.customer_id)
    real_make_charge: Callable[..., Awaitable[PaymentCharge | None]] = off_session.make_charge
    gated: list[str] = []

    async def renewal_first(gateway_arg: object, staged: off_session.StagedCharge) -> PaymentCharge | None:
        """The gate: the change's charge is committed; the merchant cancels the subscription before the processor
        is called (a test clock can't renew meanwhile: it waits for the charge in flight)."""
        gated.append(staged.charge_id)
        await subscriptions.cancel(session, setup.account_id, setup.subscription_id)
        await session.commit()
        return await real_make_charge(gateway_arg, staged)

    monkeypatch.setattr(payment_plan_changes.off_session, "make_charge", renewal_first)

    changed = await payment_plan_changes.change_items(
        gateway_,
        setup.account_id,
        setup.subscription_id,
        [changes.ItemChange(id=item.id, price_id=pro)],
        proration_behavior=payment_plan_changes.ALWAYS_INVOICE,
        proration_date=None,
    )

    assert len(gated) == 1
    assert changed.payment_status == "succeeded"
    invoice = await session.get(Invoice, changed.invoice_id, populate_existing=True)
    assert invoice is not None
    assert (invoice.billing_reason, invoice.status) == (SUBSCRIPTION_UPDATE, VOID)
    assert invoice.plan_change is not None
    assert invoice.plan_change["applied"] is False
    assert "plan_change" not in invoice.invoice_metadata
    refund = await session.get(Refund, invoice.plan_change["refund_id"], populate_existing=True)
    assert refund is not None
    assert (refund.status, refund.amount_atom) == (REFUND_SUCCEEDED, changed.proration_amount_atom)
    types = list(await session.scalars(select(Event.type).where(Event.aggregate_id == refund.id)))
    assert types == ["refund.created", "refund.succeeded"]
    assert await _plan(session, setup.subscription_id) == [(item.price_id, AMOUNT)]
    # Money conserved: the change's charge is given back whole.
    assert await _taken(session, setup.customer_id) == before
    subscription = await session.get(Subscription, setup.subscription_id, populate_existing=True)
    assert subscription is not None
    assert subscription.status == "canceled"
