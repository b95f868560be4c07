"""Refunds of checkout payments, through the simulator and Stripe (localstripe), on both backends: full, partial,
over-refund refused, the processor's refusal, recovery of a refund left pending, and refunds racing."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core.clock import FrozenClock
from checkstand.core.errors import BusinessRuleViolation, InvalidFields, NotFound
from checkstand.db import Database
from checkstand.events.models import Event
from checkstand.payments import flow as payment_flow
from checkstand.payments import refunds
from checkstand.payments.models import SUCCEEDED, Payment, PaymentCharge, ProcessorAttempt, Refund
from checkstand.processors import connections
from checkstand.processors.base import PaymentMethod, RefundOutcome, RefundRequest
from checkstand.processors.models import Processor, SimulatorRefund
from checkstand.processors.simulator import SimulatorProcessor
from checkstand.processors.stripe import StripeProcessor
from checkstand.subscriptions.models import Subscription
from tests.localstripe import SECRET_KEY, SUCCEEDING_METHOD, LocalStripe
from tests.payments import flow
from tests.shop import Shop


async def paid_charge(
    session: AsyncSession, database: Database, shop: Shop, price: str | None = None, method: PaymentMethod | None = None
) -> PaymentCharge:
    """A completed checkout of ``price`` (the T-shirt, 1999 USD), and the charge that took its money."""
    created = await flow.open_session(session, shop.account_id, [price or shop.tshirt])
    attempt = await payment_flow.confirm(flow.gateway(database), created.secure_token, flow.paying(method))
    assert attempt.state == SUCCEEDED, attempt.error_message_for_debug
    async with database.reading() as fresh:
        charge = await fresh.scalar(
            select(PaymentCharge).join(Payment).where(Payment.checkout_session_id == created.id)
        )
    assert charge is not None
    return charge


async def state(database: Database, charge_id: str) -> tuple[int, int, list[tuple[int, str]]]:
    """The charge's reserved-or-refunded amount, its payment's refunded amount, and its refunds (amount, status)."""
    async with database.reading() as fresh:
        charge = await fresh.get(PaymentCharge, charge_id)
        assert charge is not None
        payment = await fresh.get(Payment, charge.payment_id)
        assert payment is not None
        rows = await fresh.execute(
            select(Refund.amount_atom, Refund.status).where(Refund.charge_id == charge_id).order_by(Refund.created_at)
        )
        return charge.amount_refunded_atom, payment.amount_refunded_atom, [(a, s) for a, s in rows]


async def network_refunds(database: Database, account_id: str) -> list[tuple[int, str]]:
    async with database.reading() as fresh:
        rows = await fresh.execute(
            select(SimulatorRefund.amount_atom, SimulatorRefund.status)
            .where(SimulatorRefund.account_id == account_id)
            .order_by(SimulatorRefund.created_at)
        )
        return [(a, s) for a, s in rows]


async def event_types(database: Database, account_id: str, prefix: str) -> list[str]:
    async with database.reading() as fresh:
        rows = await fresh.scalars(
            select(Event.type).where(Event.account_id == account_id, Event.type.startswith(prefix))
        )
        return sorted(rows)


async def test_a_checkout_payment_has_the_charge_that_took_the_money(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    await flow.simulator(session, shop.account_id)
    charge = await paid_charge(session, database, shop)

    async with database.reading() as fresh:
        payment = await fresh.get(Payment, charge.payment_id)
        assert payment is not None
        taken = await fresh.get(ProcessorAttempt, payment.processor_attempt_id)
    assert taken is not None
    assert (charge.status, charge.amount_atom, charge.currency, charge.amount_refunded_atom) == (
        "succeeded",
        1999,
        "usd",
        0,
    )
    assert (charge.processor_id, charge.processor_reference, charge.idempotency_key) == (
        taken.processor_id,
        taken.processor_reference,
        taken.idempotency_key,
    )
    assert (charge.customer_id, charge.account_id) == (payment.customer_id, shop.account_id)
    assert charge.captured_at is not None


async def test_a_full_refund_gives_everything_back_once(session: AsyncSession, database: Database, shop: Shop) -> None:
    await flow.simulator(session, shop.account_id)
    charge = await paid_charge(session, database, shop)
    gateway = flow.gateway(database)

    refund = await refunds.create_refund(
        gateway,
        shop.account_id,
        refunds.NewRefund(charge.id, reason="requested_by_customer", metadata={"ticket": "T-1"}),
    )

    assert (refund.status, refund.amount_atom, refund.currency, refund.reason) == (
        "succeeded",
        1999,
        "usd",
        "requested_by_customer",
    )
    assert refund.processed_at is not None
    assert refund.processor_refund_id is not None
    assert refund.processor_refund_id.startswith("simre_")
    assert refund.refund_metadata == {"ticket": "T-1"}
    assert await state(database, charge.id) == (1999, 1999, [(1999, "succeeded")])
    assert await network_refunds(database, shop.account_id) == [(1999, "succeeded")]
    assert await event_types(database, shop.account_id, "refund.") == ["refund.created", "refund.succeeded"]

    with pytest.raises(BusinessRuleViolation) as again:
        await refunds.create_refund(gateway, shop.account_id, refunds.NewRefund(charge.id))
    assert again.value.code == "charge_already_refunded"
    assert await state(database, charge.id) == (1999, 1999, [(1999, "succeeded")])


async def test_partial_refunds_add_up_and_an_over_refund_changes_nothing(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    await flow.simulator(session, shop.account_id)
    charge = await paid_charge(session, database, shop)
    gateway = flow.gateway(database)

    first = await refunds.create_refund(gateway, shop.account_id, refunds.NewRefund(charge.id, amount_atom=500))
    second = await refunds.create_refund(gateway, shop.account_id, refunds.NewRefund(charge.id, amount_atom=1000))
    with pytest.raises(InvalidFields) as over:
        await refunds.create_refund(gateway, shop.account_id, refunds.NewRefund(charge.id, amount_atom=500))

    assert (first.status, second.status) == ("succeeded", "succeeded")
    [problem] = over.value.problems
    assert (problem.path, problem.type) == (("amount_atom",), "refund_exceeds_charge")
    assert "499 left" in problem.msg
    assert await state(database, charge.id) == (1500, 1500, [(500, "succeeded"), (1000, "succeeded")])
    assert await network_refunds(database, shop.account_id) == [(500, "succeeded"), (1000, "succeeded")]

    rest = await refunds.create_refund(gateway, shop.account_id, refunds.NewRefund(charge.id))
    assert (rest.status, rest.amount_atom) == ("succeeded", 499)
    assert (await state(database, charge.id))[:2] == (1999, 1999)


async def test_another_accounts_charge_is_not_found(session: AsyncSession, database: Database, shop: Shop) -> None:
    await flow.simulator(session, shop.account_id)
    charge = await paid_charge(session, database, shop)
    from checkstand.accounts import service as accounts

    other = await accounts.create_account(session, name="Other")
    await session.commit()

    with pytest.raises(NotFound):
        await refunds.create_refund(flow.gateway(database), other.id, refunds.NewRefund(charge.id))
    with pytest.raises(NotFound):
        async with database.reading() as fresh:
            await refunds.refunds_of_charge(fresh, other.id, charge.id)
    assert await state(database, charge.id) == (0, 0, [])


async def test_the_network_refuses_more_than_its_charge_and_answers_a_key_once(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    processor = await flow.simulator(session, shop.account_id)
    charge = await paid_charge(session, database, shop)
    assert charge.processor_reference is not None
    network = SimulatorProcessor(database, processor, public_url=flow.PUBLIC_URL)

    def asking(key: str, amount: int) -> RefundRequest:
        return RefundRequest(key, charge.processor_reference or "", amount, "usd")

    too_much = await network.refund(asking("k-too-much", 2000))
    taken = await network.refund(asking("k-1500", 1500))
    replay = await network.refund(asking("k-1500", 1500))
    past_the_rest = await network.refund(asking("k-500", 500))
    unknown = await network.refund(RefundRequest("k-unknown", "simch_nope", 100, "usd"))

    assert (too_much.outcome, too_much.failure_code) == (RefundOutcome.FAILED, "amount_too_large")
    assert taken.outcome is RefundOutcome.SUCCEEDED
    assert replay == taken
    assert (past_the_rest.outcome, past_the_rest.failure_code) == (RefundOutcome.FAILED, "amount_too_large")
    assert (unknown.outcome, unknown.failure_code) == (RefundOutcome.FAILED, "resource_missing")
    with pytest.raises(ValueError, match="k-1500"):
        await network.refund(asking("k-1500", 1000))
    assert await network_refunds(database, shop.account_id) == [
        (2000, "failed"),
        (1500, "succeeded"),
        (500, "failed"),
        (100, "failed"),
    ]


async def test_a_refund_the_processor_refuses_gives_its_reservation_back(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    processor = await flow.simulator(session, shop.account_id)
    charge = await paid_charge(session, database, shop)
    # Refunded at the "network" behind Checkstand's back (a processor's dashboard): the processor now refuses more.
    network = SimulatorProcessor(database, processor, public_url=flow.PUBLIC_URL)
    await network.refund(RefundRequest("dashboard", charge.processor_reference or "", 1500, "usd"))

    refused = await refunds.create_refund(
        flow.gateway(database), shop.account_id, refunds.NewRefund(charge.id, amount_atom=1000)
    )

    assert (refused.status, refused.failure_code) == ("failed", "amount_too_large")
    assert refused.processed_at is None
    assert await state(database, charge.id) == (0, 0, [(1000, "failed")])
    assert await event_types(database, shop.account_id, "refund.") == ["refund.created", "refund.failed"]


async def test_a_refund_recorded_out_of_band_asks_no_processor(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    await flow.simulator(session, shop.account_id)
    charge = await paid_charge(session, database, shop)

    recorded = await refunds.create_refund(
        flow.gateway(database),
        shop.account_id,
        refunds.NewRefund(charge.id, amount_atom=300, refunded_out_of_band=True),
    )

    assert (recorded.status, recorded.reason, recorded.processor_refund_id) == ("succeeded", "manual_out_of_band", None)
    assert await state(database, charge.id) == (300, 300, [(300, "succeeded")])
    assert await network_refunds(database, shop.account_id) == []


async def test_a_refund_the_processor_could_not_answer_is_settled_by_recovery(
    session: AsyncSession, database: Database, shop: Shop, frozen_clock: FrozenClock
) -> None:
    processor = await flow.simulator(session, shop.account_id)
    charge = await paid_charge(session, database, shop)
    gateway = flow.gateway(database)
    await _set_available(database, processor, available=False)

    waiting = await refunds.create_refund(gateway, shop.account_id, refunds.NewRefund(charge.id, amount_atom=700))

    assert waiting.status == "pending"
    # Reserved: what is left to refund already counts it, though nothing was given back yet.
    assert await state(database, charge.id) == (700, 0, [(700, "pending")])
    with pytest.raises(InvalidFields):
        await refunds.create_refund(gateway, shop.account_id, refunds.NewRefund(charge.id, amount_atom=1300))
    # Its lease holds: the process that asked is presumed alive.
    assert await refunds.recover_pending_refunds(gateway) == 0

    frozen_clock.advance(gateway.policy.attempt_lease + timedelta(seconds=1))
    assert await refunds.recover_pending_refunds(gateway) == 0  # still unavailable: left for the next lease
    assert (await state(database, charge.id))[2] == [(700, "pending")]
    await _set_available(database, processor, available=True)
    frozen_clock.advance(gateway.policy.attempt_lease + timedelta(seconds=1))
    assert await refunds.recover_pending_refunds(gateway) == 1

    assert await state(database, charge.id) == (700, 700, [(700, "succeeded")])
    assert await network_refunds(database, shop.account_id) == [(700, "succeeded")]
    assert await refunds.recover_pending_refunds(gateway) == 0


async def test_a_refund_left_pending_by_a_crash_is_refunded_once(
    session: AsyncSession, database: Database, shop: Shop, frozen_clock: FrozenClock
) -> None:
    """The process died right after the processor refunded: recovery asks again with the same key, and the network
    answers the refund it already made rather than making a second."""
    processor = await flow.simulator(session, shop.account_id)
    charge = await paid_charge(session, database, shop)
    gateway = flow.gateway(database)
    async with database.writing() as tx:
        reserved = await refunds.reserve_refund(
            tx, shop.account_id, refunds.NewRefund(charge.id, amount_atom=900), lease=gateway.policy.attempt_lease
        )
        await tx.commit()
    network = SimulatorProcessor(database, processor, public_url=flow.PUBLIC_URL)
    made = await network.refund(RefundRequest(reserved.idempotency_key, charge.processor_reference or "", 900, "usd"))

    frozen_clock.advance(gateway.policy.attempt_lease + timedelta(seconds=1))
    assert await refunds.recover_pending_refunds(gateway) == 1

    async with database.reading() as fresh:
        settled = await refunds.get_refund(fresh, shop.account_id, reserved.id)
    assert (settled.status, settled.processor_refund_id) == ("succeeded", made.processor_refund_id)
    assert await network_refunds(database, shop.account_id) == [(900, "succeeded")]
    assert await state(database, charge.id) == (900, 900, [(900, "succeeded")])


async def test_refunding_a_subscriptions_payment_leaves_the_subscription_active(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    await flow.simulator(session, shop.account_id)
    charge = await paid_charge(session, database, shop, price=shop.yearly)
    async with database.reading() as fresh:
        payment = await fresh.get(Payment, charge.payment_id)
        assert payment is not None
        subscription = await fresh.scalar(select(Subscription).where(Subscription.customer_id == payment.customer_id))
    assert subscription is not None
    assert subscription.status == "active"

    refund = await refunds.create_refund(flow.gateway(database), shop.account_id, refunds.NewRefund(charge.id))

    assert (refund.status, refund.amount_atom) == ("succeeded", 9000)
    async with database.reading() as fresh:
        after = await fresh.get(Subscription, subscription.id)
    assert after is not None
    assert (after.status, after.canceled_at) == ("active", None)
    assert await event_types(database, shop.account_id, "subscription.canceled") == []


async def test_twenty_racing_partial_refunds_never_refund_more_than_was_paid(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    """Twenty refunds of 150 race for a charge of 1999: at most 13 fit, and exactly that many succeed."""
    await flow.simulator(session, shop.account_id)
    charge = await paid_charge(session, database, shop)
    gateway = flow.gateway(database)

    async def one() -> str:
        try:
            refund = await refunds.create_refund(
                gateway, shop.account_id, refunds.NewRefund(charge.id, amount_atom=150)
            )
        except InvalidFields:
            return "refused"
        return refund.status

    outcomes = await asyncio.gather(*(one() for _ in range(20)))

    assert sorted(outcomes) == ["refused"] * 7 + ["succeeded"] * 13
    reserved, refunded, rows = await state(database, charge.id)
    assert reserved == refunded == sum(amount for amount, status in rows if status == "succeeded") == 13 * 150
    assert await network_refunds(database, shop.account_id) == [(150, "succeeded")] * 13


async def test_a_stripe_payment_is_refunded_at_stripe(
    session: AsyncSession, database: Database, shop: Shop, localstripe: LocalStripe
) -> None:
    await flow.stripe(session, shop.account_id, localstripe.api_base)
    charge = await paid_charge(session, database, shop, method=PaymentMethod(processor_reference=SUCCEEDING_METHOD))
    assert charge.processor_reference is not None
    assert charge.processor_reference.startswith("pi_")
    gateway = flow.gateway(database)

    part = await refunds.create_refund(gateway, shop.account_id, refunds.NewRefund(charge.id, amount_atom=500))
    rest = await refunds.create_refund(gateway, shop.account_id, refunds.NewRefund(charge.id, reason="manual"))

    assert (part.status, rest.status, rest.amount_atom) == ("succeeded", "succeeded", 1499)
    assert part.processor_refund_id is not None
    assert part.processor_refund_id.startswith("re_")
    at_stripe = localstripe.refunds_of(charge.processor_reference)
    assert sorted((r["id"], r["amount"], r["status"]) for r in at_stripe) == sorted(
        [(part.processor_refund_id, 500, "succeeded"), (rest.processor_refund_id, 1499, "succeeded")]
    )
    assert await state(database, charge.id) == (1999, 1999, [(500, "succeeded"), (1499, "succeeded")])


async def test_stripe_refunds_once_per_key(localstripe: LocalStripe) -> None:
    intent = localstripe.confirmed_payment_intent(SUCCEEDING_METHOD, 2500)
    request = RefundRequest("stripe-refund-key-1", intent, 1000, "usd")

    async with StripeProcessor(SECRET_KEY, localstripe.api_base, allow_private_urls=True) as stripe:
        first = await stripe.refund(request)
        again = await stripe.refund(request)
        unknown = await stripe.refund(RefundRequest("stripe-refund-key-2", "pi_nope", 100, "usd"))

    assert first.outcome is RefundOutcome.SUCCEEDED
    assert again == first
    assert [r["id"] for r in localstripe.refunds_of(intent)] == [first.processor_refund_id]
    assert unknown.outcome is RefundOutcome.FAILED


async def _set_available(database: Database, processor: Processor, *, available: bool) -> None:
    async with database.writing() as tx:
        await connections.update_processor(
            tx, processor.account_id, processor.id, {"is_available": available}, flow.BOX
        )
        await tx.commit()
