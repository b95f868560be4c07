"""A trial charges nothing at checkout: the card is saved by a setup at the processor (a zero-amount record on the
simulator's network), the subscription starts trialing with it, and only a one-time part sold beside the trial is
charged. On both backends."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout import service as checkout
from checkstand.checkout import trials
from checkstand.core import clock
from checkstand.core.clock import FrozenClock
from checkstand.db import Database
from checkstand.discounts import coupons
from checkstand.events.models import Event
from checkstand.payments import flow as payment_flow
from checkstand.payments import recovery, three_d_secure
from checkstand.payments.adapters import adapter_for, load_processor
from checkstand.payments.models import FAILED, PROCESSING, REQUIRES_ACTION, SUCCEEDED, CheckoutAttempt, Payment
from checkstand.processors import simulator as sim
from checkstand.processors.base import ChargeRequest, Outcome, PaymentMethod
from checkstand.processors.models import SimulatorCharge
from checkstand.subscriptions.models import TRIALING, Subscription
from tests.payments import flow
from tests.payments.flow import card, paying
from tests.shop import Shop


async def network_rows(database: Database, account_id: str) -> list[SimulatorCharge]:
    async with database.reading() as fresh:
        rows = await fresh.scalars(
            select(SimulatorCharge)
            .where(SimulatorCharge.account_id == account_id)
            .order_by(SimulatorCharge.created_at, SimulatorCharge.id)
        )
        return list(rows)


async def subscription_of(database: Database, attempt: CheckoutAttempt) -> Subscription:
    assert attempt.subscription_id is not None
    async with database.reading() as fresh:
        found = await fresh.get(Subscription, attempt.subscription_id)
    assert found is not None
    return found


async def event_types(database: Database, account_id: str) -> list[str]:
    async with database.reading() as fresh:
        return list(await fresh.scalars(select(Event.type).where(Event.account_id == account_id)))


async def test_a_trial_is_priced_at_nothing_today(session: AsyncSession, shop: Shop) -> None:
    created = await flow.open_session(session, shop.account_id, [shop.monthly])

    assert (created.amount_total_atom, created.amount_due_today_atom) == (900, 0)
    assert trials.tier_due(created, 0) == trials.TierDue(today_atom=0, recurring_atom=900, trial_days=14)
    assert trials.sets_up(created, 0)
    # Without a trial the whole total is due today, and a payment is a charge.
    yearly = await flow.open_session(session, shop.account_id, [shop.yearly])
    assert (yearly.amount_total_atom, yearly.amount_due_today_atom) == (9000, 9000)
    assert not trials.sets_up(yearly, 0)


async def test_a_trial_checkout_saves_the_card_without_charging_it(
    session: AsyncSession, database: Database, shop: Shop, frozen_clock: FrozenClock
) -> None:
    processor = await flow.simulator(session, shop.account_id)
    created = await flow.open_session(session, shop.account_id, [shop.monthly])
    gateway = flow.gateway(database)

    attempt = await payment_flow.confirm(gateway, created.secure_token, paying())

    assert attempt.state == SUCCEEDED
    # The network saw a setup only: one zero-amount record, whose saved method the subscription renews with.
    [setup] = await network_rows(database, shop.account_id)
    assert (setup.amount_atom, setup.status, setup.card_last4) == (0, "succeeded", "4242")
    assert setup.saved_payment_method is not None
    [processor_attempt] = attempt.processor_attempts
    assert processor_attempt.is_setup
    assert processor_attempt.amount_atom == 0
    assert processor_attempt.snapshot()["charge_status"] == "not_requested"
    assert processor_attempt.snapshot()["setup_status"] == "succeeded"
    assert attempt.snapshot()["payment_intent_id"] is None
    assert attempt.saved_payment_method == setup.saved_payment_method

    subscription = await subscription_of(database, attempt)
    assert subscription.status == TRIALING
    assert subscription.payment_method_reference == setup.saved_payment_method
    assert subscription.trial_end == clock.now() + timedelta(days=14)
    async with database.reading() as fresh:
        assert await flow.count(fresh, Payment, shop.account_id) == 0
        done = await checkout.get_session(fresh, shop.account_id, created.id)
    assert done.status == "success"
    types = await event_types(database, shop.account_id)
    assert "checkout_session.completed" in types
    assert "subscription.created" in types
    assert "payment.succeeded" not in types

    # The saved reference later charges as the card would: the trial's end charges the full price once.
    async with adapter_for(gateway, await load_processor(gateway, processor.id)) as adapter:
        renewal = await adapter.charge(
            ChargeRequest(
                idempotency_key="renewal-1",
                amount_atom=900,
                currency="usd",
                payment_method=PaymentMethod(processor_reference=setup.saved_payment_method),
            )
        )
    assert renewal.outcome is Outcome.SUCCEEDED
    assert sorted(row.amount_atom for row in await network_rows(database, shop.account_id)) == [0, 900]


async def test_a_three_d_secure_card_on_a_trial_is_challenged_then_saved(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    await flow.simulator(session, shop.account_id)
    created = await flow.open_session(session, shop.account_id, [shop.monthly])
    gateway = flow.gateway(database)

    waiting = await payment_flow.confirm(gateway, created.secure_token, paying(card(flow.THREE_DS_CARD)))

    assert waiting.state == REQUIRES_ACTION
    assert waiting.action_url is not None
    assert waiting.processor_attempts[0].snapshot()["setup_status"] == "requires_action"
    token = waiting.action_url.rsplit("/", 1)[1]
    async with database.writing() as writing:
        challenge = await sim.find_challenge(writing, token)
        assert challenge is not None
        assert challenge.amount_atom == 0
        await sim.decide_challenge(writing, challenge, approve=True)
        await writing.commit()

    settled = await three_d_secure.resume(gateway, created.secure_token, waiting.id)

    assert settled.state == SUCCEEDED
    [setup] = await network_rows(database, shop.account_id)
    assert (setup.amount_atom, setup.status) == (0, "succeeded")
    subscription = await subscription_of(database, settled)
    assert subscription.status == TRIALING
    assert subscription.payment_method_reference == setup.saved_payment_method
    async with database.reading() as fresh:
        assert await flow.count(fresh, Payment, shop.account_id) == 0


async def test_a_declined_card_on_a_trial_saves_nothing_and_the_session_stays_open(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    await flow.simulator(session, shop.account_id)
    created = await flow.open_session(session, shop.account_id, [shop.monthly])

    attempt = await payment_flow.confirm(flow.gateway(database), created.secure_token, paying(card(flow.LOST_CARD)))

    assert attempt.state == FAILED
    assert attempt.decline_code == "lost_card"
    assert attempt.processor_attempts[0].snapshot()["setup_status"] == "declined"
    [refused] = await network_rows(database, shop.account_id)
    assert (refused.amount_atom, refused.saved_payment_method) == (0, None)
    async with database.reading() as fresh:
        assert await flow.count(fresh, Subscription, shop.account_id) == 0
        assert checkout.state(await checkout.get_session(fresh, shop.account_id, created.id)) == "open"


async def test_a_one_time_price_beside_a_trial_is_charged_alone_and_the_card_saved(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    await flow.simulator(session, shop.account_id)
    created = await flow.open_session(session, shop.account_id, [shop.tshirt, shop.monthly])
    assert (created.amount_total_atom, created.amount_due_today_atom) == (1999 + 900, 1999)

    attempt = await payment_flow.confirm(flow.gateway(database), created.secure_token, paying())

    assert attempt.state == SUCCEEDED
    [charge] = await network_rows(database, shop.account_id)
    assert charge.amount_atom == 1999
    assert charge.saved_payment_method is not None
    assert not attempt.processor_attempts[0].is_setup
    async with database.reading() as fresh:
        payment = await fresh.scalar(select(Payment).where(Payment.account_id == shop.account_id))
    assert payment is not None
    assert payment.amount_atom == 1999
    subscription = await subscription_of(database, attempt)
    assert subscription.status == TRIALING
    assert subscription.payment_method_reference == charge.saved_payment_method


async def test_a_percent_coupon_beside_a_trial_takes_only_the_one_time_part_off_today(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    await flow.simulator(session, shop.account_id)
    created = await flow.open_session(session, shop.account_id, [shop.tshirt, shop.monthly])
    async with database.writing() as writing:
        locked = await checkout.lock_open_session(writing, created.secure_token)
        await checkout.apply_promotion_code(writing, locked, shop.percent_code)
        await writing.commit()
        # 10 % of 2899 is 290 (half-even), shared 200 / 90 by the lines' amounts.
        assert (locked.amount_total_atom, locked.amount_due_today_atom) == (2899 - 290, 1999 - 200)
        assert trials.tier_due(locked, 0).recurring_atom == 900 - 90

    await payment_flow.confirm(flow.gateway(database), created.secure_token, paying())

    assert [row.amount_atom for row in await network_rows(database, shop.account_id)] == [1799]


async def test_a_trial_extension_coupon_makes_a_trial_of_a_price_without_one(
    session: AsyncSession, database: Database, shop: Shop, frozen_clock: FrozenClock
) -> None:
    extension = await coupons.create_coupon(session, shop.account_id, discount_type="trial_extension", trial_days_off=7)
    await flow.simulator(session, shop.account_id)
    created = await checkout.create_session(
        session,
        shop.account_id,
        checkout.NewCheckoutSession(
            success_url="https://shop.test/ok",
            return_url="https://shop.test/back",
            line_items=[checkout.LineItemSpec(price_id=shop.yearly)],
            coupon_id=extension.id,
        ),
    )
    await session.commit()
    assert (created.amount_total_atom, created.amount_due_today_atom) == (9000, 0)

    attempt = await payment_flow.confirm(flow.gateway(database), created.secure_token, paying())

    assert attempt.state == SUCCEEDED
    assert [row.amount_atom for row in await network_rows(database, shop.account_id)] == [0]
    subscription = await subscription_of(database, attempt)
    assert subscription.status == TRIALING
    assert subscription.trial_end == clock.now() + timedelta(days=7)


async def test_a_setup_whose_answer_was_lost_is_completed_by_recovery_once(
    session: AsyncSession, database: Database, shop: Shop, frozen_clock: FrozenClock
) -> None:
    await flow.simulator(session, shop.account_id)
    created = await flow.open_session(session, shop.account_id, [shop.monthly])
    gateway = flow.gateway(database)
    async with database.writing() as writing:
        attempt, pending = await payment_flow.begin_attempt(
            writing, created.secure_token, paying(), public_url=flow.PUBLIC_URL, limits=flow.POLICY.rate_limits
        )
        await writing.commit()
    assert pending is not None
    # The processor saves the card, and the process dies before recording its answer.
    assert (await payment_flow.call_processor(gateway, pending)).outcome is Outcome.SUCCEEDED

    frozen_clock.advance(flow.POLICY.attempt_lease + timedelta(seconds=1))
    assert await recovery.recover_stuck_attempts(gateway) == 1
    assert await recovery.recover_stuck_attempts(gateway) == 0

    async with database.reading() as fresh:
        settled = await fresh.get(CheckoutAttempt, attempt.id)
        assert settled is not None
        assert settled.state == SUCCEEDED
        assert await flow.count(fresh, Subscription, shop.account_id) == 1
        assert await flow.count(fresh, Payment, shop.account_id) == 0
    [setup] = await network_rows(database, shop.account_id)
    assert (setup.amount_atom, setup.idempotency_key) == (0, pending.request.idempotency_key)
    subscription = await subscription_of(database, settled)
    assert subscription.payment_method_reference == setup.saved_payment_method


async def test_a_setup_the_processor_never_received_fails_the_attempt(
    session: AsyncSession, database: Database, shop: Shop, frozen_clock: FrozenClock
) -> None:
    await flow.simulator(session, shop.account_id)
    created = await flow.open_session(session, shop.account_id, [shop.monthly])
    async with database.writing() as writing:
        attempt, _ = await payment_flow.begin_attempt(
            writing, created.secure_token, paying(), public_url=flow.PUBLIC_URL, limits=flow.POLICY.rate_limits
        )
        await writing.commit()
    assert attempt.state == PROCESSING

    frozen_clock.advance(flow.POLICY.attempt_lease + timedelta(seconds=1))
    assert await recovery.recover_stuck_attempts(flow.gateway(database)) == 1

    async with database.reading() as fresh:
        settled = await fresh.get(CheckoutAttempt, attempt.id)
        assert settled is not None
        assert settled.state == FAILED
    assert await network_rows(database, shop.account_id) == []
