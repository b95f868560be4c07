"""The built-in simulator: Stripe's test cards, the card checks, outages, idempotency and saved cards, on both
backends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.core.clock import FrozenClock
from checkstand.core.crypto import SecretBox
from checkstand.core.errors import Conflict
from checkstand.core.ids import new_id
from checkstand.db import Database
from checkstand.processors import connections
from checkstand.processors.base import (
    CardDetails,
    ChargeRequest,
    ChargeResult,
    DeclineCode,
    Outcome,
    PaymentMethod,
    customer_message,
)
from checkstand.processors.models import Processor, SimulatorCharge
from checkstand.processors.simulator import TEST_CARDS, SimulatorProcessor, decide_challenge, find_challenge

BOX = SecretBox("test-at-rest-key")
PUBLIC_URL = "http://checkstand.test"
FUTURE_YEAR = 2099
PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def card(number: str, *, exp_month: int = 12, exp_year: int = FUTURE_YEAR, cvc: str = "123") -> PaymentMethod:
    return PaymentMethod(card=CardDetails(number=number, exp_month=exp_month, exp_year=exp_year, cvc=cvc))


def charge_request(
    method: PaymentMethod, *, key: str | None = None, amount_atom: int = 1234, currency: str = "usd", **extra: object
) -> ChargeRequest:
    return ChargeRequest(
        idempotency_key=key or new_id("key"),
        amount_atom=amount_atom,
        currency=currency,
        payment_method=method,
        **extra,  # type: ignore[arg-type]
    )


def with_check_digit(body: str) -> str:
    """``body`` followed by the digit that makes it pass the Luhn check."""
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char)
        if position % 2 == 0:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return body + str(-total % 10)


@pytest.fixture
async def account_id(session: AsyncSession) -> str:
    account = await accounts.create_account(session, name="Simulated shop")
    await session.commit()
    return account.id


@pytest.fixture
async def processor(session: AsyncSession, account_id: str) -> Processor:
    connection = await connections.create_processor(session, account_id, BOX, name="Sim", type="simulator")
    await session.commit()
    return connection


@pytest.fixture
def simulator(database: Database, processor: Processor) -> SimulatorProcessor:
    return SimulatorProcessor(database, processor, public_url=PUBLIC_URL)


async def rows(database: Database, processor: Processor) -> list[SimulatorCharge]:
    """The connection's charges, read in a transaction of the test's own: the simulator commits in its own, and on
    SQLite a test holding a write transaction open would keep it waiting."""
    async with database.reading() as reader:
        query = select(SimulatorCharge).where(SimulatorCharge.processor_id == processor.id)
        return list((await reader.scalars(query)).all())


async def stored_charge(database: Database, reference: str | None) -> SimulatorCharge | None:
    async with database.reading() as reader:
        return await reader.get(SimulatorCharge, reference)


# --- Test cards and card checks --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "outcome", "decline_code", "message"),
    [
        ("4242424242424242", Outcome.SUCCEEDED, None, None),
        ("4000000000000002", Outcome.DECLINED, DeclineCode.GENERIC_DECLINE, "Your card was declined."),
        ("4000000000009995", Outcome.DECLINED, DeclineCode.INSUFFICIENT_FUNDS, "Your card has insufficient funds."),
        ("4000000000009987", Outcome.DECLINED, DeclineCode.LOST_CARD, "Your card was declined."),
        ("4000000000009979", Outcome.DECLINED, DeclineCode.STOLEN_CARD, "Your card was declined."),
        ("4000000000000069", Outcome.DECLINED, DeclineCode.EXPIRED_CARD, "Your card has expired."),
        ("4000000000000127", Outcome.DECLINED, DeclineCode.INCORRECT_CVC, "Your card's security code is incorrect."),
        (
            "4000000000000119",
            Outcome.DECLINED,
            DeclineCode.PROCESSING_ERROR,
            "An error occurred while processing your card. Try again in a little bit.",
        ),
        ("4000002760003184", Outcome.REQUIRES_ACTION, None, None),
    ],
)
async def test_each_test_card_answers_as_on_stripe(
    database: Database,
    simulator: SimulatorProcessor,
    processor: Processor,
    number: str,
    outcome: Outcome,
    decline_code: DeclineCode | None,
    message: str | None,
) -> None:
    result = await simulator.charge(charge_request(card(number)))
    assert result.outcome is outcome
    assert result.decline_code == decline_code
    assert result.processor_reference is not None
    assert result.processor_reference.startswith("simch_")
    assert result.retryable == (decline_code is DeclineCode.PROCESSING_ERROR)
    if message is not None:
        assert customer_message(result.decline_code) == message
        assert result.processor_message == f"The simulator declined the card ending {number[-4:]}: {decline_code}."
    if outcome is Outcome.REQUIRES_ACTION:
        assert result.action_url is not None
        assert result.action_url.startswith(f"{PUBLIC_URL}/simulator/3ds/sim3ds_")
    else:
        assert result.action_url is None
    # Recorded, and of the card only its last four digits.
    [row] = await rows(database, processor)
    assert (row.id, row.status, row.decline_code, row.card_last4) == (
        result.processor_reference,
        outcome,
        decline_code,
        number[-4:],
    )
    assert (row.amount_atom, row.currency, row.account_id) == (1234, "usd", processor.account_id)


@pytest.mark.parametrize(
    ("method", "decline_code"),
    [
        (card("4242424242424241"), DeclineCode.INCORRECT_NUMBER),  # Luhn fails
        (card("42424242424"), DeclineCode.INCORRECT_NUMBER),  # 11 digits
        (card(with_check_digit("4" * 19)), DeclineCode.INCORRECT_NUMBER),  # 20 digits, Luhn-valid
        (card("4242-4242-4242-424x"), DeclineCode.INCORRECT_NUMBER),
        (card("\uff14" * 16), DeclineCode.INCORRECT_NUMBER),  # full-width digits, which str.isdigit accepts
        (card(""), DeclineCode.INCORRECT_NUMBER),
        (card("4242424242424242", exp_month=5, exp_year=2030), DeclineCode.EXPIRED_CARD),
        (card("4242424242424242", exp_month=12, exp_year=2029), DeclineCode.EXPIRED_CARD),
        (card("4242424242424242", exp_month=5, exp_year=30), DeclineCode.EXPIRED_CARD),  # MM/YY
        (card("4242424242424242", exp_month=13, exp_year=2031), DeclineCode.EXPIRED_CARD),
        (card("4242424242424242", exp_month=0, exp_year=2031), DeclineCode.EXPIRED_CARD),
        (card("4242424242424242", cvc="12"), DeclineCode.INCORRECT_CVC),
        (card("4242424242424242", cvc="12345"), DeclineCode.INCORRECT_CVC),
        (card("4242424242424242", cvc="12a"), DeclineCode.INCORRECT_CVC),
        (card("4242424242424242", cvc=""), DeclineCode.INCORRECT_CVC),
        # The card is checked before the test-card table: a 3-D Secure card with a bad CVC never gets a challenge.
        (card("4000002760003184", cvc="1"), DeclineCode.INCORRECT_CVC),
    ],
)
async def test_the_card_is_checked_before_anything_else(
    simulator: SimulatorProcessor, frozen_clock: FrozenClock, method: PaymentMethod, decline_code: DeclineCode
) -> None:
    frozen_clock.advance(datetime(2030, 6, 15, 12, 0, tzinfo=UTC) - frozen_clock.now())
    result = await simulator.charge(charge_request(method))
    assert (result.outcome, result.decline_code) == (Outcome.DECLINED, decline_code)
    assert not result.retryable


@pytest.mark.parametrize(
    "method",
    [
        card("4242 4242 4242 4242"),
        card("4242-4242-4242-4242"),
        card("4242424242424242", exp_month=6, exp_year=2030),  # good through the end of its month
        card("4242424242424242", exp_month=6, exp_year=30),
        card("4242424242424242", cvc="1234"),
        card("378282246310005", cvc="1234"),  # 15 digits (Stripe's American Express test card)
        card(with_check_digit("6" * 18)),  # 19 digits
        card(with_check_digit("5" * 11)),  # 12 digits
    ],
)
async def test_well_formed_cards_succeed(
    simulator: SimulatorProcessor, frozen_clock: FrozenClock, method: PaymentMethod
) -> None:
    frozen_clock.advance(datetime(2030, 6, 30, 23, 59, tzinfo=UTC) - frozen_clock.now())
    result = await simulator.charge(charge_request(method))
    assert result.outcome is Outcome.SUCCEEDED


@st.composite
def luhn_valid_numbers(draw: st.DrawFn) -> str:
    return with_check_digit(draw(st.text(alphabet="0123456789", min_size=15, max_size=15)))


@PROPERTY
@given(number=luhn_valid_numbers())
async def test_any_luhn_valid_number_that_is_no_test_card_succeeds(simulator: SimulatorProcessor, number: str) -> None:
    assume(number not in TEST_CARDS)
    result = await simulator.charge(charge_request(card(number)))
    assert (result.outcome, result.decline_code) == (Outcome.SUCCEEDED, None)


@PROPERTY
@given(number=luhn_valid_numbers(), position=st.integers(0, 15), shift=st.integers(1, 9))
async def test_one_digit_changed_is_an_incorrect_number(
    simulator: SimulatorProcessor, number: str, position: int, shift: int
) -> None:
    changed = number[:position] + str((int(number[position]) + shift) % 10) + number[position + 1 :]
    result = await simulator.charge(charge_request(card(changed)))
    assert (result.outcome, result.decline_code) == (Outcome.DECLINED, DeclineCode.INCORRECT_NUMBER)
    assert customer_message(result.decline_code) == "Your card number is incorrect."


# --- Outages and currencies ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("switch", ["is_available", "is_active"])
async def test_a_switched_off_connection_is_unavailable_and_charges_nothing(
    database: Database, session: AsyncSession, processor: Processor, switch: str
) -> None:
    await connections.update_processor(session, processor.account_id, processor.id, {switch: False}, BOX)
    await session.commit()
    simulator = SimulatorProcessor(database, processor, public_url=PUBLIC_URL)
    request = charge_request(card("4242424242424242"))
    result = await simulator.charge(request)
    assert result.outcome is Outcome.UNAVAILABLE
    assert result.retryable
    assert result.processor_reference is None
    assert await rows(database, processor) == []
    assert await simulator.lookup(request.idempotency_key) is None


async def test_a_currency_the_connection_lacks_is_unavailable(
    database: Database, account_id: str, simulator: SimulatorProcessor, processor: Processor
) -> None:
    result = await simulator.charge(charge_request(card("4242424242424242"), currency="chf"))
    assert result.outcome is Outcome.UNAVAILABLE
    assert result.processor_message == "The simulator connection doesn't take CHF."
    assert await rows(database, processor) == []
    # Currencies are compared without regard to case, and stored lower-case.
    taken = await simulator.charge(charge_request(card("4242424242424242"), currency="EUR"))
    assert taken.outcome is Outcome.SUCCEEDED
    assert [row.currency for row in await rows(database, processor)] == ["eur"]


# --- Idempotency ---------------------------------------------------------------------------------------------------


async def test_a_repeated_key_answers_the_first_result_and_charges_once(
    database: Database, simulator: SimulatorProcessor, session: AsyncSession, processor: Processor
) -> None:
    first = await simulator.charge(charge_request(card("4000000000009995"), key="order-1"))
    # Even another card: the key, not the card, identifies the charge.
    again = await simulator.charge(charge_request(card("4242424242424242"), key="order-1"))
    assert again == first
    assert first.decline_code == DeclineCode.INSUFFICIENT_FUNDS
    assert await simulator.lookup("order-1") == first
    assert await simulator.lookup("order-2") is None
    assert len(await rows(database, processor)) == 1

    # An outage doesn't hide a charge already made: a caller recovering after a crash must learn of it.
    await connections.update_processor(session, processor.account_id, processor.id, {"is_available": False}, BOX)
    await session.commit()
    assert await simulator.charge(charge_request(card("4242424242424242"), key="order-1")) == first


@pytest.mark.parametrize(("amount_atom", "currency"), [(1235, "usd"), (1234, "eur")])
async def test_a_repeated_key_with_another_amount_is_a_bug(
    database: Database,
    simulator: SimulatorProcessor,
    processor: Processor,
    amount_atom: int,
    currency: str,
) -> None:
    await simulator.charge(charge_request(card("4242424242424242"), key="order-1"))
    with pytest.raises(ValueError, match="order-1"):
        await simulator.charge(
            charge_request(card("4242424242424242"), key="order-1", amount_atom=amount_atom, currency=currency)
        )
    assert len(await rows(database, processor)) == 1


async def test_keys_are_scoped_to_the_connection(
    database: Database, session: AsyncSession, account_id: str, simulator: SimulatorProcessor, processor: Processor
) -> None:
    other = await connections.create_processor(session, account_id, BOX, name="Sim 2", type="simulator")
    await session.commit()
    first = await simulator.charge(charge_request(card("4242424242424242"), key="shared"))
    second = await SimulatorProcessor(database, other, public_url=PUBLIC_URL).charge(
        charge_request(card("4000000000000002"), key="shared")
    )
    assert first.processor_reference != second.processor_reference
    assert (first.outcome, second.outcome) == (Outcome.SUCCEEDED, Outcome.DECLINED)


async def test_concurrent_charges_with_one_key_charge_once(database: Database, processor: Processor) -> None:
    """Eight charges with one key at once, each in its own transactions: on PostgreSQL they all miss each other's
    uncommitted row and race on the unique constraint; SQLite runs writers one after another."""
    request = charge_request(card("4242424242424242"), key="double-click", save_payment_method=True)
    simulator = SimulatorProcessor(database, processor, public_url=PUBLIC_URL)

    results = await asyncio.gather(*(simulator.charge(request) for _ in range(8)))
    assert len(set(results)) == 1
    assert results[0].outcome is Outcome.SUCCEEDED
    assert results[0].saved_payment_method is not None
    assert len(await rows(database, processor)) == 1


async def test_a_charge_that_loses_the_race_on_its_key_answers_the_winners_charge(
    database: Database, processor: Processor, backend: str
) -> None:
    """A charge with the same key is uncommitted when this one starts. On PostgreSQL this one can't see it, so its
    insert waits on the unique index and fails once the other commits; it then answers the winner's charge. On
    SQLite it waits for the write lock instead, then finds the row."""
    simulator = SimulatorProcessor(database, processor, public_url=PUBLIC_URL)
    async with database.writing() as winning:
        winner = SimulatorCharge(
            id=new_id("simch"),
            account_id=processor.account_id,
            processor_id=processor.id,
            idempotency_key="k",
            amount_atom=1234,
            currency="usd",
            card_last4="4242",
            status=Outcome.SUCCEEDED,
        )
        winning.add(winner)
        await winning.flush()
        racing = asyncio.create_task(simulator.charge(charge_request(card("4000000000000002"), key="k")))
        if backend == "postgresql":
            await _until_a_query_waits_on_a_lock(database)
        await winning.commit()
    result = await racing
    assert (result.outcome, result.processor_reference) == (Outcome.SUCCEEDED, winner.id)
    assert len(await rows(database, processor)) == 1


async def _until_a_query_waits_on_a_lock(database: Database) -> None:
    """Polls PostgreSQL until a query of this database is blocked on a lock: the racer's insert has reached the
    unique index."""
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    async with database.reading() as observer:
        for _ in range(1000):
            if await observer.scalar(waiting):
                return
            await observer.rollback()  # a fresh snapshot of the statistics for the next look
            await asyncio.sleep(0.01)
    raise AssertionError("the racing charge never blocked on the unique index")


# --- Saved payment methods -----------------------------------------------------------------------------------------


async def test_a_saved_card_is_charged_again_as_the_card_it_was(
    database: Database, simulator: SimulatorProcessor, processor: Processor
) -> None:
    saved = await simulator.charge(charge_request(card("4242424242424242"), save_payment_method=True))
    assert saved.saved_payment_method is not None
    assert saved.saved_payment_method.startswith("simpm_")
    reuse = PaymentMethod(processor_reference=saved.saved_payment_method)

    renewal = await simulator.charge(charge_request(reuse, amount_atom=900))
    assert (renewal.outcome, renewal.saved_payment_method) == (Outcome.SUCCEEDED, None)
    # Saving it again answers the same reference rather than a second one.
    again = await simulator.charge(charge_request(reuse, save_payment_method=True))
    assert again.saved_payment_method == saved.saved_payment_method
    assert [row.card_last4 for row in await rows(database, processor)] == ["4242"] * 3

    # Without save_payment_method nothing is saved.
    assert (await simulator.charge(charge_request(card("4242424242424242")))).saved_payment_method is None


async def test_a_declined_card_is_not_saved(database: Database, simulator: SimulatorProcessor) -> None:
    declined = await simulator.charge(charge_request(card("4000000000000002"), save_payment_method=True))
    assert (declined.outcome, declined.saved_payment_method) == (Outcome.DECLINED, None)
    stored = await stored_charge(database, declined.processor_reference)
    assert stored is not None
    assert stored.saved_payment_method is None


async def test_a_saved_card_is_only_known_to_its_own_connection(
    database: Database, simulator: SimulatorProcessor, session: AsyncSession, account_id: str
) -> None:
    saved = await simulator.charge(charge_request(card("4242424242424242"), save_payment_method=True))
    assert saved.saved_payment_method is not None
    reuse = PaymentMethod(processor_reference=saved.saved_payment_method)
    other_account = await accounts.create_account(session, name="Someone else")
    strangers = [
        await connections.create_processor(session, account_id, BOX, name="Sim 2", type="simulator"),
        await connections.create_processor(session, other_account.id, BOX, name="Theirs", type="simulator"),
    ]
    await session.commit()
    for stranger in strangers:
        result = await SimulatorProcessor(database, stranger, public_url=PUBLIC_URL).charge(charge_request(reuse))
        assert (result.outcome, result.decline_code) == (Outcome.DECLINED, DeclineCode.GENERIC_DECLINE)
        assert result.processor_message == "The simulator declined the payment method: generic_decline."
    made_up = await simulator.charge(charge_request(PaymentMethod(processor_reference="simpm_nothing")))
    assert made_up.decline_code == DeclineCode.GENERIC_DECLINE


async def test_a_saved_3ds_card_asks_for_its_challenge_on_every_charge(
    database: Database, simulator: SimulatorProcessor
) -> None:
    first = await simulator.charge(charge_request(card("4000002760003184"), save_payment_method=True))
    # Not saved while the customer hasn't authenticated.
    assert (first.outcome, first.saved_payment_method) == (Outcome.REQUIRES_ACTION, None)
    assert first.processor_reference is not None
    await _decide(database, first, approve=True)
    approved = await simulator.confirm(first.processor_reference)
    assert approved.outcome is Outcome.SUCCEEDED
    assert approved.saved_payment_method is not None

    renewal = await simulator.charge(
        charge_request(PaymentMethod(processor_reference=approved.saved_payment_method), save_payment_method=True)
    )
    assert renewal.outcome is Outcome.REQUIRES_ACTION
    assert renewal.action_url is not None
    assert renewal.action_url != first.action_url
    stored = await stored_charge(database, renewal.processor_reference)
    assert stored is not None
    assert stored.card_last4 == "3184"


async def test_a_failed_challenge_saves_nothing(database: Database, simulator: SimulatorProcessor) -> None:
    first = await simulator.charge(charge_request(card("4000002760003184"), save_payment_method=True))
    await _decide(database, first, approve=False)
    assert first.processor_reference is not None
    failed = await simulator.confirm(first.processor_reference)
    assert (failed.outcome, failed.saved_payment_method) == (Outcome.DECLINED, None)
    # The reference kept for a successful answer can't be charged either.
    stored = await stored_charge(database, first.processor_reference)
    assert stored is not None
    assert stored.saved_payment_method is not None
    reuse = await simulator.charge(charge_request(PaymentMethod(processor_reference=stored.saved_payment_method)))
    assert reuse.decline_code == DeclineCode.GENERIC_DECLINE


# --- 3-D Secure ----------------------------------------------------------------------------------------------------


async def _decide(database: Database, result: ChargeResult, *, approve: bool) -> SimulatorCharge:
    """The customer's answer on the challenge page, committed."""
    async with database.writing() as writing:
        charge = await _challenge(writing, result)
        decided = await decide_challenge(writing, charge, approve=approve)
        await writing.commit()
    return decided


async def _challenge(session: AsyncSession, result: ChargeResult) -> SimulatorCharge:
    assert result.action_url is not None
    charge = await find_challenge(session, result.action_url.rsplit("/", 1)[1])
    assert charge is not None
    assert charge.id == result.processor_reference
    return charge


@pytest.mark.parametrize("three_ds_mode", [None, "first_3ds_wins", "prefer_non_3ds"])
async def test_confirm_tells_the_customers_answer(
    database: Database, simulator: SimulatorProcessor, three_ds_mode: str | None
) -> None:
    challenged = await simulator.charge(
        charge_request(card("4000002760003184"), return_url="https://shop.test/back", three_ds_mode=three_ds_mode)
    )
    assert challenged.outcome is Outcome.REQUIRES_ACTION
    assert challenged.processor_reference is not None
    assert await simulator.confirm(challenged.processor_reference) == challenged
    charge = await _decide(database, challenged, approve=True)
    assert charge.return_url == "https://shop.test/back"
    approved = await simulator.confirm(challenged.processor_reference)
    assert (approved.outcome, approved.decline_code, approved.action_url) == (Outcome.SUCCEEDED, None, None)
    # The key answers the decided result too.
    stored = await stored_charge(database, challenged.processor_reference)
    assert stored is not None
    assert await simulator.lookup(stored.idempotency_key) == approved


async def test_a_failed_challenge_declines_with_authentication_failed(
    database: Database, simulator: SimulatorProcessor
) -> None:
    challenged = await simulator.charge(charge_request(card("4000002760003184")))
    assert challenged.processor_reference is not None
    await _decide(database, challenged, approve=False)
    failed = await simulator.confirm(challenged.processor_reference)
    assert (failed.outcome, failed.decline_code) == (Outcome.DECLINED, DeclineCode.AUTHENTICATION_FAILED)
    assert not failed.retryable
    assert customer_message(failed.decline_code) == "We are unable to authenticate your payment method."


async def test_a_challenge_is_decided_once(database: Database, simulator: SimulatorProcessor) -> None:
    challenged = await simulator.charge(charge_request(card("4000002760003184")))
    charge = await _decide(database, challenged, approve=False)
    async with database.writing() as writing:
        with pytest.raises(Conflict) as raised:
            await decide_challenge(writing, await _challenge(writing, challenged), approve=True)
    assert raised.value.code == "challenge_already_decided"
    assert charge.status == Outcome.DECLINED
    assert challenged.processor_reference is not None
    assert (await simulator.confirm(challenged.processor_reference)).decline_code == DeclineCode.AUTHENTICATION_FAILED


async def test_confirm_knows_only_its_own_connections_charges(
    database: Database, simulator: SimulatorProcessor, session: AsyncSession, account_id: str
) -> None:
    challenged = await simulator.charge(charge_request(card("4000002760003184")))
    assert challenged.processor_reference is not None
    other = await connections.create_processor(session, account_id, BOX, name="Sim 2", type="simulator")
    await session.commit()
    with pytest.raises(ValueError, match="no simulator charge"):
        await SimulatorProcessor(database, other, public_url=PUBLIC_URL).confirm(challenged.processor_reference)
    with pytest.raises(ValueError, match="no simulator charge"):
        await simulator.confirm("simch_unknown")


# --- Mistakes of the calling code ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (charge_request(card("4242424242424242"), amount_atom=-1), "negative"),
        (charge_request(card("4242424242424242"), key="k" * 256), "idempotency_key"),
        (charge_request(PaymentMethod()), "either a card or"),
        (
            charge_request(
                PaymentMethod(card=CardDetails("4242424242424242", 12, FUTURE_YEAR, "123"), processor_reference="x")
            ),
            "either a card or",
        ),
        (charge_request(card("4000002760003184"), return_url="/relative"), "return_url"),
        (charge_request(card("4000002760003184"), return_url="javascript:alert(1)"), "return_url"),
        (charge_request(card("4000002760003184"), return_url="https://a.test;script-src *"), "return_url"),
        (charge_request(card("4000002760003184"), return_url="https://user@a.test/"), "return_url"),
    ],
)
async def test_mistakes_of_the_caller_raise_and_charge_nothing(
    database: Database,
    simulator: SimulatorProcessor,
    processor: Processor,
    request_: ChargeRequest,
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        await simulator.charge(request_)
    assert await rows(database, processor) == []


async def test_only_a_simulator_connection_makes_a_simulator(
    database: Database, session: AsyncSession, account_id: str
) -> None:
    stripe = await connections.create_processor(
        session,
        account_id,
        BOX,
        name="Stripe",
        type="stripe",
        currencies=["usd"],
        secret_key="sk_test_4eC39HqLyjWDarjtT1zdp7dc",
        webhook_secret="whsec_Tq1rkUu1W8mWnCyb2uXcGq0yYg5Qv3sE",
    )
    with pytest.raises(ValueError, match="not a simulator"):
        SimulatorProcessor(database, stripe, public_url=PUBLIC_URL)


async def test_a_zero_amount_verifies_and_saves_the_card(simulator: SimulatorProcessor) -> None:
    """As a Stripe SetupIntent does: a trial's card is saved without moving money, and a bad card still fails."""
    saved = await simulator.charge(charge_request(card("4242424242424242"), amount_atom=0, save_payment_method=True))
    assert saved.outcome is Outcome.SUCCEEDED
    assert saved.saved_payment_method is not None
    refused = await simulator.charge(charge_request(card("4000000000009987"), amount_atom=0))
    assert refused.decline_code == DeclineCode.LOST_CARD
