"""Paying a checkout session: routes, declines, cascade tiers, 3-D Secure and completion, on both backends."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from stripe import WebhookSignature

from checkstand.checkout import service as checkout
from checkstand.core import clock
from checkstand.core.errors import Conflict, InvalidFields
from checkstand.customers import service as customers
from checkstand.customers.models import Customer
from checkstand.db import Database
from checkstand.discounts import coupons, promotion_codes
from checkstand.events.models import Event
from checkstand.payments import cascade, stripe_events, three_d_secure
from checkstand.payments import flow as payment_flow
from checkstand.payments import service as payments_service
from checkstand.payments.models import (
    FAILED,
    FIRST_3DS_WINS,
    PREFER_NON_3DS,
    REQUIRES_ACTION,
    SUCCEEDED,
    CheckoutAttempt,
    Payment,
)
from checkstand.processors import routes as routes
from checkstand.processors import simulator as sim
from checkstand.processors.base import CUSTOMER_MESSAGES, customer_message
from checkstand.processors.models import SimulatorCharge, StripeEvent
from checkstand.subscriptions.models import Subscription
from tests.localstripe import CHARGE_DECLINED_METHOD, SUCCEEDING_METHOD, LocalStripe
from tests.localstripe import THREE_DS_CARD as STRIPE_THREE_DS_CARD
from tests.payments import flow
from tests.payments.flow import card, paying
from tests.shop import Shop

# Every card the simulator declines, by the decline code it must produce.
DECLINES = {
    "4000000000000002": "generic_decline",
    "4000000000009995": "insufficient_funds",
    "4000000000009987": "lost_card",
    "4000000000009979": "stolen_card",
    "4000000000000069": "expired_card",
    "4000000000000127": "incorrect_cvc",
    "4000000000000119": "processing_error",
    "4242424242424241": "incorrect_number",
}


async def events_of(session: AsyncSession, account_id: str) -> list[str]:
    rows = await session.scalars(select(Event.type).where(Event.account_id == account_id))
    return list(rows)


async def test_a_paid_session_completes_with_customer_payment_and_events(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    await flow.simulator(session, shop.account_id)
    created = await flow.open_session(session, shop.account_id, [shop.tshirt])

    attempt = await payment_flow.confirm(flow.gateway(database), created.secure_token, paying())

    assert attempt.state == SUCCEEDED
    assert [(t.from_state, t.to_state) for t in attempt.transitions] == [
        ("pending", "processing"),
        ("processing", "succeeded"),
    ]
    assert all(t.created_at is not None for t in attempt.transitions)
    async with database.reading() as fresh:
        done = await checkout.get_session(fresh, shop.account_id, created.id)
        assert done.status == "success"
        assert done.succeeded_tier == 0
        payment = await fresh.scalar(select(Payment).where(Payment.checkout_session_id == created.id))
        assert payment is not None
        assert (payment.amount_atom, payment.currency, payment.status) == (1999, "usd", "succeeded")
        customer = await customers.get_customer(fresh, shop.account_id, payment.customer_id)
        assert (customer.email, customer.first_name, customer.last_name) == ("ada@example.test", "Ada", "Lovelace")
        assert customer.first_purchase_at is not None
        assert done.customer_id == customer.id
        assert await flow.count(fresh, Subscription, shop.account_id) == 0
        types = await events_of(fresh, shop.account_id)
    for expected in (
        "checkout_attempt.created",
        "checkout_attempt.succeeded",
        "payment.succeeded",
        "checkout_session.completed",
        "customer.created",
    ):
        assert expected in types


async def test_a_returning_email_reuses_the_customer_and_a_recurring_tier_subscribes(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    await flow.simulator(session, shop.account_id)
    known = await customers.create_customer(session, shop.account_id, email="ADA@example.test")
    await session.commit()
    created = await flow.open_session(session, shop.account_id, [shop.monthly])

    attempt = await payment_flow.confirm(flow.gateway(database), created.secure_token, paying())

    assert attempt.state == SUCCEEDED
    assert attempt.subscription_id is not None
    async with database.reading() as fresh:
        subscription = await fresh.scalar(select(Subscription).where(Subscription.checkout_session_id == created.id))
        assert subscription is not None
        assert subscription.customer_id == known.id
        # The card was saved for renewals, and the subscription charges it.
        assert subscription.payment_method_reference is not None
        assert subscription.payment_method_reference.startswith("simpm_")
        customers_named = await fresh.scalars(select(Customer.id).where(Customer.account_id == shop.account_id))
        assert list(customers_named) == [known.id]


@pytest.mark.parametrize(("number", "code"), DECLINES.items())
async def test_every_decline_has_its_code_and_a_customer_message(
    session: AsyncSession, database: Database, shop: Shop, number: str, code: str
) -> None:
    await flow.simulator(session, shop.account_id)
    created = await flow.open_session(session, shop.account_id, [shop.tshirt])

    attempt = await payment_flow.confirm(flow.gateway(database), created.secure_token, paying(card(number)))

    assert attempt.state == FAILED
    assert attempt.decline_code == code
    assert attempt.error_message_for_customer == CUSTOMER_MESSAGES[code]
    # The processor's own words are for the merchant only.
    assert attempt.error_message_for_debug is not None
    assert "simulator" in attempt.error_message_for_debug.lower()
    assert "simulator" not in (attempt.error_message_for_customer or "").lower()
    async with database.reading() as fresh:
        assert checkout.state(await checkout.get_session(fresh, shop.account_id, created.id)) == "open"
        assert await flow.count(fresh, Payment, shop.account_id) == 0
        types = await events_of(fresh, shop.account_id)
    assert "payment.failed" in types
    assert "checkout_attempt.failed" in types


def test_lost_and_stolen_cards_are_not_told_apart_to_the_customer() -> None:
    assert customer_message("lost_card") == customer_message("stolen_card") == customer_message("generic_decline")


async def test_a_failed_session_can_be_paid_again(session: AsyncSession, database: Database, shop: Shop) -> None:
    await flow.simulator(session, shop.account_id)
    created = await flow.open_session(session, shop.account_id, [shop.tshirt])
    gateway = flow.gateway(database)

    failed = await payment_flow.confirm(gateway, created.secure_token, paying(card(flow.LOST_CARD)))
    paid = await payment_flow.confirm(gateway, created.secure_token, paying())

    assert (failed.state, paid.state) == (FAILED, SUCCEEDED)
    with pytest.raises(Conflict) as again:
        await payment_flow.confirm(gateway, created.secure_token, paying())
    assert again.value.code == "checkout_session_completed"


async def test_the_route_skips_unavailable_and_wrong_currency_processors(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    down = await flow.simulator(session, shop.account_id, "Down", available=False)
    euros = await flow.simulator(session, shop.account_id, "Euros", currencies=["eur"])
    good = await flow.simulator(session, shop.account_id, "Good")
    route = await routes.create_route(
        session,
        shop.account_id,
        name="r",
        processors=[routes.RouteStep(down.id), routes.RouteStep(euros.id), routes.RouteStep(good.id)],
    )
    await session.commit()
    created = await flow.open_session(session, shop.account_id, [shop.tshirt], route_id=route.id)

    attempt = await payment_flow.confirm(flow.gateway(database), created.secure_token, paying())

    assert attempt.state == SUCCEEDED
    assert [(p.processor_id, p.charge_status, p.skip_reason) for p in attempt.processor_attempts] == [
        (down.id, "skipped", "unavailable"),
        (euros.id, "skipped", "currency_not_supported"),
        (good.id, "succeeded", None),
    ]
    async with database.reading() as fresh:
        charges = list(await fresh.scalars(select(SimulatorCharge.processor_id)))
        payment = await fresh.scalar(select(Payment).where(Payment.checkout_session_id == created.id))
    assert charges == [good.id]
    assert payment is not None
    assert payment.processor_id == good.id


async def test_a_retryable_error_moves_to_the_next_processor_but_a_decline_stops_the_route(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    first = await flow.simulator(session, shop.account_id, "First")
    second = await flow.simulator(session, shop.account_id, "Second")
    gateway = flow.gateway(database)

    retried_session = await flow.open_session(session, shop.account_id, [shop.tshirt])
    retried = await payment_flow.confirm(
        gateway, retried_session.secure_token, paying(card(flow.PROCESSING_ERROR_CARD))
    )
    declined_session = await flow.open_session(session, shop.account_id, [shop.tshirt])
    declined = await payment_flow.confirm(gateway, declined_session.secure_token, paying(card(flow.LOST_CARD)))

    # No route: every connected processor, in the order they were connected.
    assert [(p.processor_id, p.decline_code) for p in retried.processor_attempts] == [
        (first.id, "processing_error"),
        (second.id, "processing_error"),
    ]
    assert [(p.processor_id, p.decline_code) for p in declined.processor_attempts] == [(first.id, "lost_card")]
    assert declined.error_message_for_customer == customer_message("lost_card")


async def test_no_processor_for_the_currency_fails_without_a_charge(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    await flow.simulator(session, shop.account_id, currencies=["eur"])
    created = await flow.open_session(session, shop.account_id, [shop.tshirt])

    attempt = await payment_flow.confirm(flow.gateway(database), created.secure_token, paying())

    assert attempt.state == FAILED
    assert attempt.error_message_for_customer == customer_message(None)
    async with database.reading() as fresh:
        assert await flow.count(fresh, SimulatorCharge, shop.account_id) == 0


# --- Cascade tiers --------------------------------------------------------------------------------------------------


async def test_an_insufficient_funds_decline_cascades_over_three_tiers_charging_each_tiers_amount(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    await flow.simulator(session, shop.account_id)
    created = await flow.open_session(
        session, shop.account_id, [shop.yearly], tiers=[([shop.monthly], None), ([shop.sticker], None)]
    )

    attempt = await payment_flow.confirm(
        flow.gateway(database), created.secure_token, paying(card(flow.INSUFFICIENT_FUNDS_CARD))
    )

    assert attempt.state == FAILED
    # The monthly tier is on trial: nothing is due today, so the card is set up for it, not charged.
    assert [(p.tier, p.amount_atom, p.is_setup, p.decline_code) for p in attempt.processor_attempts] == [
        (0, 9000, False, "insufficient_funds"),
        (1, 0, True, "insufficient_funds"),
        (2, 500, False, "insufficient_funds"),
    ]
    async with database.reading() as fresh:
        assert sorted(await flow.charged_amounts(fresh, shop.account_id)) == [0, 500, 9000]


async def test_a_card_problem_stops_the_cascade(session: AsyncSession, database: Database, shop: Shop) -> None:
    await flow.simulator(session, shop.account_id)
    created = await flow.open_session(
        session, shop.account_id, [shop.yearly], tiers=[([shop.monthly], None), ([shop.sticker], None)]
    )

    attempt = await payment_flow.confirm(flow.gateway(database), created.secure_token, paying(card(flow.LOST_CARD)))

    assert attempt.state == FAILED
    async with database.reading() as fresh:
        assert await flow.charged_amounts(fresh, shop.account_id) == [9000]


async def test_the_tier_that_succeeds_is_recorded_and_charged_its_own_amount(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    down = await flow.simulator(session, shop.account_id, "Down", available=False)
    euros = await flow.simulator(session, shop.account_id, "Euros", currencies=["eur"])
    good = await flow.simulator(session, shop.account_id, "Good")
    route_of = {}
    for processor in (down, euros, good):
        made = await routes.create_route(
            session, shop.account_id, name=processor.name, processors=[routes.RouteStep(processor.id)]
        )
        route_of[processor.name] = made.id
    await session.commit()
    created = await flow.open_session(
        session,
        shop.account_id,
        [shop.yearly],
        route_id=route_of["Down"],
        tiers=[([shop.monthly], route_of["Euros"]), ([shop.monthly, shop.sticker], route_of["Good"])],
    )

    attempt = await payment_flow.confirm(flow.gateway(database), created.secure_token, paying())

    assert attempt.state == SUCCEEDED
    assert attempt.tier == 2
    async with database.reading() as fresh:
        done = await checkout.get_session(fresh, shop.account_id, created.id)
        payment = await fresh.scalar(select(Payment).where(Payment.checkout_session_id == created.id))
        subscription = await fresh.scalar(select(Subscription).where(Subscription.checkout_session_id == created.id))
        # The monthly price is on trial: only the sticker beside it is due today.
        assert await flow.charged_amounts(fresh, shop.account_id) == [500]
    assert done.succeeded_tier == 2
    assert payment is not None
    assert (payment.tier, payment.amount_atom) == (2, 500)
    assert subscription is not None
    assert [item.price_id for item in subscription.items] == [shop.monthly]


async def test_the_amount_is_the_servers_tier_amount_after_a_promotion_code(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    await flow.simulator(session, shop.account_id)
    created = await flow.open_session(session, shop.account_id, [shop.tshirt])

    attempt = await payment_flow.confirm(
        flow.gateway(database), created.secure_token, paying(promotion_code=shop.percent_code)
    )

    assert attempt.state == SUCCEEDED
    async with database.reading() as fresh:
        # 10 % off 1999, half-even: 200 off.
        assert await flow.charged_amounts(fresh, shop.account_id) == [1799]
        done = await checkout.get_session(fresh, shop.account_id, created.id)
    assert done.promotion_code == "TENOFF"
    assert done.amount_total_atom == 1799


async def test_an_unknown_promotion_code_is_a_422_that_changes_nothing(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    await flow.simulator(session, shop.account_id)
    created = await flow.open_session(session, shop.account_id, [shop.tshirt])

    with pytest.raises(InvalidFields) as raised:
        await payment_flow.confirm(flow.gateway(database), created.secure_token, paying(promotion_code="NOPE"))

    assert raised.value.problems[0].path == ("promotion_code",)
    async with database.reading() as fresh:
        assert list(await fresh.scalars(select(CheckoutAttempt.id))) == []
        assert (await checkout.get_session(fresh, shop.account_id, created.id)).amount_total_atom == 1999


async def test_a_charge_whose_session_cant_complete_fails_for_a_refund_and_keeps_one_payment(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    """A once-only code used up by another session between confirm and completion: the charge is recorded for the
    merchant to refund, nothing else of the completion is kept, and the session stays open."""
    await flow.simulator(session, shop.account_id)
    coupon = await coupons.create_coupon(session, shop.account_id, discount_type="percent_off", percent_off_bp=5_000)
    await promotion_codes.create_promotion_code(
        session, shop.account_id, coupon_id=coupon.id, code="ONCE", max_redemptions=1
    )
    await session.commit()
    first, second = [
        await checkout.create_session(
            session,
            shop.account_id,
            checkout.NewCheckoutSession(
                success_url="https://shop.test/ok",
                return_url="https://shop.test/back",
                line_items=[checkout.LineItemSpec(price_id=shop.tshirt)],
                promotion_code="ONCE",
            ),
        )
        for _ in range(2)
    ]
    await session.commit()
    gateway = flow.gateway(database)

    paid = await payment_flow.confirm(gateway, first.secure_token, paying())
    refused = await payment_flow.confirm(gateway, second.secure_token, paying())

    assert paid.state == SUCCEEDED
    assert refused.state == FAILED
    assert refused.error_message_for_customer == customer_message(None)
    assert refused.error_message_for_debug is not None
    assert "Refund" in refused.error_message_for_debug
    assert [p.charge_status for p in refused.processor_attempts] == ["succeeded"]
    async with database.reading() as fresh:
        # Half of 1999 off, half-even: 1000 off.
        assert await flow.charged_amounts(fresh, shop.account_id) == [999, 999]
        assert await flow.count(fresh, Payment, shop.account_id) == 1
        assert checkout.state(await checkout.get_session(fresh, shop.account_id, second.id)) == "open"
        assert (await checkout.get_session(fresh, shop.account_id, second.id)).customer_id is None


# --- Checks before paying -------------------------------------------------------------------------------------------


async def test_an_anonymous_session_needs_name_and_email(session: AsyncSession, database: Database, shop: Shop) -> None:
    await flow.simulator(session, shop.account_id)
    created = await flow.open_session(session, shop.account_id, [shop.tshirt])

    with pytest.raises(InvalidFields) as raised:
        await payment_flow.confirm(
            flow.gateway(database),
            created.secure_token,
            payment_flow.Confirmation(payment_method=card()),
        )

    assert {problem.path for problem in raised.value.problems} == {("customer", "name"), ("customer", "email")}


async def test_a_session_with_a_customer_needs_no_details(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    await flow.simulator(session, shop.account_id)
    known = await customers.create_customer(session, shop.account_id, email="grace@example.test")
    await session.commit()
    created = await flow.open_session(session, shop.account_id, [shop.tshirt], customer_id=known.id)

    attempt = await payment_flow.confirm(
        flow.gateway(database), created.secure_token, payment_flow.Confirmation(payment_method=card())
    )

    assert attempt.state == SUCCEEDED
    assert attempt.customer_id == known.id


# --- 3-D Secure -----------------------------------------------------------------------------------------------------


async def _decide(database: Database, action_url: str, *, approve: bool) -> None:
    token = action_url.rsplit("/", 1)[1]
    async with database.writing() as writing:
        charge = await sim.find_challenge(writing, token)
        assert charge is not None
        await sim.decide_challenge(writing, charge, approve=approve)
        await writing.commit()


@pytest.mark.parametrize(("approve", "final"), [(True, SUCCEEDED), (False, FAILED)])
async def test_three_d_secure_approved_completes_and_failed_fails(
    session: AsyncSession, database: Database, shop: Shop, approve: bool, final: str
) -> None:
    await flow.simulator(session, shop.account_id)
    created = await flow.open_session(session, shop.account_id, [shop.tshirt])
    gateway = flow.gateway(database)

    waiting = await payment_flow.confirm(gateway, created.secure_token, paying(card(flow.THREE_DS_CARD)))
    assert waiting.state == REQUIRES_ACTION
    assert waiting.action_url is not None
    # Still waiting: resuming early changes nothing, and no second attempt may start meanwhile.
    assert (await three_d_secure.resume(gateway, created.secure_token, waiting.id)).state == REQUIRES_ACTION
    with pytest.raises(Conflict) as busy:
        await payment_flow.confirm(gateway, created.secure_token, paying())
    assert busy.value.code == "checkout_attempt_in_progress"

    await _decide(database, waiting.action_url, approve=approve)
    settled = await three_d_secure.resume(gateway, created.secure_token, waiting.id)

    assert settled.state == final
    assert [t.to_state for t in settled.transitions][-2:] == (
        ["processing", "succeeded"] if approve else ["requires_action", "failed"]
    )
    async with database.reading() as fresh:
        assert await flow.count(fresh, Payment, shop.account_id) == (1 if approve else 0)
    if not approve:
        assert settled.decline_code == "authentication_failed"
        assert settled.error_message_for_customer == customer_message("authentication_failed")
    # A repeated resume answers the same and records nothing more.
    again = await three_d_secure.resume(gateway, created.secure_token, waiting.id)
    assert (again.state, len(again.transitions)) == (final, len(settled.transitions))


async def test_the_challenge_returns_to_the_hosted_page_of_the_attempt(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    await flow.simulator(session, shop.account_id)
    created = await flow.open_session(session, shop.account_id, [shop.tshirt])

    waiting = await payment_flow.confirm(flow.gateway(database), created.secure_token, paying(card(flow.THREE_DS_CARD)))

    async with database.reading() as fresh:
        charge = await fresh.scalar(select(SimulatorCharge))
    assert charge is not None
    assert charge.return_url == (f"{flow.PUBLIC_URL}/c/{created.secure_token}?checkout_attempt_id={waiting.id}")


@pytest.mark.parametrize(
    ("mode", "statuses"),
    [
        (FIRST_3DS_WINS, ["requires_action"]),
        (PREFER_NON_3DS, ["requires_action", "requires_action"]),
        (None, ["requires_action"]),
    ],
)
async def test_three_ds_mode_decides_whether_the_route_goes_on_before_the_challenge(
    session: AsyncSession, database: Database, shop: Shop, mode: str | None, statuses: list[str]
) -> None:
    first = await flow.simulator(session, shop.account_id, "First")
    await flow.simulator(session, shop.account_id, "Second")
    created = await flow.open_session(session, shop.account_id, [shop.tshirt], three_ds_mode=mode)
    gateway = flow.gateway(database)

    waiting = await payment_flow.confirm(gateway, created.secure_token, paying(card(flow.THREE_DS_CARD)))

    assert waiting.state == REQUIRES_ACTION
    assert [p.charge_status for p in waiting.processor_attempts] == statuses
    # The challenge shown is the first processor's, whichever mode.
    assert waiting.action_url == waiting.processor_attempts[0].action_url
    assert waiting.processor_attempts[0].processor_id == first.id
    assert waiting.action_url is not None
    await _decide(database, waiting.action_url, approve=True)
    done = await three_d_secure.resume(gateway, created.secure_token, waiting.id)
    assert done.state == SUCCEEDED
    assert [p.charge_status for p in done.processor_attempts] == ["succeeded", *["canceled"] * (len(statuses) - 1)]


# --- Stripe in the flow ---------------------------------------------------------------------------------------------


async def test_a_stripe_payment_method_is_charged_on_stripe_and_a_card_only_on_the_simulator(
    session: AsyncSession, database: Database, shop: Shop, localstripe: LocalStripe
) -> None:
    stripe = await flow.stripe(session, shop.account_id, localstripe.api_base)
    simulator = await flow.simulator(session, shop.account_id)
    gateway = flow.gateway(database)
    by_stripe = await flow.open_session(session, shop.account_id, [shop.tshirt])
    by_card = await flow.open_session(session, shop.account_id, [shop.tshirt])

    paid = await payment_flow.confirm(
        gateway, by_stripe.secure_token, paying(flow.PaymentMethod(processor_reference=SUCCEEDING_METHOD))
    )
    carded = await payment_flow.confirm(gateway, by_card.secure_token, paying())

    assert paid.state == SUCCEEDED, paid.error_message_for_debug
    assert [(p.processor_id, p.charge_status, p.skip_reason) for p in paid.processor_attempts] == [
        (stripe.id, "succeeded", None)
    ]
    assert paid.processor_attempts[0].processor_reference is not None
    assert paid.processor_attempts[0].processor_reference.startswith("pi_")
    assert [(p.processor_id, p.charge_status, p.skip_reason) for p in carded.processor_attempts] == [
        (stripe.id, "skipped", cascade.SKIP_METHOD),
        (simulator.id, "succeeded", None),
    ]


async def test_a_stripe_decline_fails_with_our_message(
    session: AsyncSession, database: Database, shop: Shop, localstripe: LocalStripe
) -> None:
    await flow.stripe(session, shop.account_id, localstripe.api_base)
    created = await flow.open_session(session, shop.account_id, [shop.tshirt])

    attempt = await payment_flow.confirm(
        flow.gateway(database),
        created.secure_token,
        paying(flow.PaymentMethod(processor_reference=CHARGE_DECLINED_METHOD)),
    )

    assert attempt.state == FAILED
    assert attempt.error_message_for_customer == customer_message(attempt.decline_code)
    async with database.reading() as fresh:
        assert await flow.count(fresh, Payment, shop.account_id) == 0


@pytest.mark.parametrize("by_event", [False, True])
async def test_stripes_three_d_secure_settles_by_resume_or_by_its_event(
    session: AsyncSession, database: Database, shop: Shop, localstripe: LocalStripe, by_event: bool
) -> None:
    stripe = await flow.stripe(session, shop.account_id, localstripe.api_base)
    created = await flow.open_session(session, shop.account_id, [shop.tshirt])
    gateway = flow.gateway(database)
    method = flow.PaymentMethod(processor_reference=localstripe.card_method(STRIPE_THREE_DS_CARD))

    waiting = await payment_flow.confirm(gateway, created.secure_token, paying(method))
    assert waiting.state == REQUIRES_ACTION
    charge = waiting.processor_attempts[0]
    assert charge.processor_reference is not None
    assert charge.idempotency_key is not None
    localstripe.authenticate(charge.processor_reference, success=True)

    if by_event:
        sent = localstripe.events_about(charge.processor_reference)[0]
        body = json.dumps(sent).encode()
        signature = WebhookSignature.generate_signature_header(
            body.decode(), flow.STRIPE_WEBHOOK_SECRET, timestamp=int(clock.now().timestamp())
        )
        receipt = await stripe_events.receive_stripe_event(gateway, stripe.id, body, signature)
        assert receipt.settlement is not None
        assert not receipt.duplicate
        # The same delivery again, and the same news again (another event about the PaymentIntent), change nothing.
        assert (await stripe_events.receive_stripe_event(gateway, stripe.id, body, signature)).duplicate
        async with database.writing() as writing:
            assert not await stripe_events.apply_settlement(
                writing, stripe.id, receipt.settlement, public_url=flow.PUBLIC_URL
            )
        async with database.reading() as fresh:
            settled = await payments_service.get_attempt(fresh, shop.account_id, waiting.id)
            stored = await fresh.get(StripeEvent, (sent["id"], stripe.id))
        assert stored is not None
        assert stored.processed_at is not None
    else:
        settled = await three_d_secure.resume(gateway, created.secure_token, waiting.id)

    assert settled.state == SUCCEEDED
    async with database.reading() as fresh:
        assert await flow.count(fresh, Payment, shop.account_id) == 1
