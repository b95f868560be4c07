"""Checkout attempts: paying a checkout session over a processor route and its cascade tiers, crash-safe.

The flow follows Stripe's idempotency design. Each processor attempt is committed as ``pending``, with its
idempotency key, *before* the processor is called; the call runs outside any lock; its result is then recorded in a
new transaction under the session's lock. A process dying between the call and the record leaves the attempt in
``processing``, and :func:`recover_stuck_attempts` (a worker job) asks the processor again with the same key, which
answers what it did the first time and never charges twice.

So the steps can't share one unit of work: the public API runs them through the :class:`Gateway`'s database, one
transaction each. Completion (:mod:`checkstand.payments.completion`) happens at most once per session: the session
row is locked and re-checked, a second attempt can't start while one is in flight, and the payment is unique per
session in the database itself.

Order of processors: the tier's route (a fallback tier's own route, else the session's), else the account default,
else every connected processor. A skipped processor (inactive, unavailable, not taking the currency, setup only) is
recorded and passed over; ``unavailable`` and retryable declines move to the next processor; any other decline stops
the route. A route that ends on a decline another amount may fix (or with no processor able to take the payment)
moves to the next cascade tier; a decline about the card itself (lost, stolen, expired, wrong number or CVC) ends
the attempt.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout import service as checkout_service
from checkstand.checkout.models import OPEN, PRIMARY_TIER, SUCCESS, CheckoutSession
from checkstand.core import clock
from checkstand.core.crypto import SecretBox
from checkstand.core.errors import CheckstandError, Conflict, FieldProblem, InvalidFields, NotFound, RateLimited
from checkstand.core.ids import new_id
from checkstand.core.listing import ListParams, ListSpec, apply_list_params
from checkstand.core.lookup import one_or_not_found
from checkstand.core.pagination import Page, paginate
from checkstand.db import Database
from checkstand.events.service import record_event
from checkstand.payments import completion
from checkstand.payments.models import AttemptTransition, CheckoutAttempt, ProcessorAttempt
from checkstand.processors import routes
from checkstand.processors.base import (
    AMOUNT_MAY_FIX,
    ChargeRequest,
    ChargeResult,
    DeclineCode,
    Outcome,
    OutcomeUnknown,
    PaymentMethod,
    ProcessorAdapter,
    customer_message,
)
from checkstand.processors.connections import SIMULATOR, STRIPE, open_credentials
from checkstand.processors.models import Processor, StripeEvent
from checkstand.processors.simulator import SAVED_METHOD_PREFIX, SimulatorProcessor
from checkstand.processors.stripe import Receipt, Settlement, StripeProcessor

ATTEMPT_PREFIX: Final = "catt"
PROCESSOR_ATTEMPT_PREFIX: Final = "patt"
TRANSITION_PREFIX: Final = "atr"

PENDING: Final = "pending"
PROCESSING: Final = "processing"
REQUIRES_ACTION: Final = "requires_action"
SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"
IN_FLIGHT: Final = (PENDING, PROCESSING, REQUIRES_ACTION)

# A processor attempt's ``charge_status``: ``pending`` while the processor is being asked, then its outcome, or
# ``skipped`` (never called) or ``canceled`` (a challenge left undone because another processor took the payment).
CHARGE_PENDING: Final = "pending"
CHARGE_SKIPPED: Final = "skipped"
CHARGE_CANCELED: Final = "canceled"
SKIP_SETUP_ONLY: Final = "setup_only"
SKIP_METHOD: Final = "payment_method_not_supported"

FIRST_3DS_WINS: Final = "first_3ds_wins"
PREFER_NON_3DS: Final = "prefer_non_3ds"

RECOVERY_LEASE: Final = timedelta(minutes=2)
"""How long an attempt may stay ``processing`` before the recovery pass settles it. Longer than any processor call
takes (Stripe's client gives up well before), so recovery never races a request that is still running. A candidate
for a setting (``CHECKSTAND_ATTEMPT_RECOVERY_SECONDS``)."""
RECOVERY_BATCH: Final = 50
ACTION_TIMEOUT: Final = timedelta(minutes=30)
"""How long a customer has for a 3-D Secure challenge. Until then the attempt holds the session (a second payment
could otherwise succeed beside it); after it, recovery asks the processor once more and fails the attempt if the
challenge is still undecided, so the session can be paid again. A candidate for a setting too."""

RATE_WINDOW: Final = timedelta(minutes=10)
"""Confirm rate limits, counted in the database so every API process shares them: a session stops taking
attempts after ``MAX_FAILED_PER_SESSION`` failures in the window (card testing), a client IP after
``MAX_ATTEMPTS_PER_IP`` attempts on any session."""
MAX_FAILED_PER_SESSION: Final = 10
MAX_ATTEMPTS_PER_IP: Final = 30

ATTEMPT_LIST: Final = ListSpec(
    filterable={"state": CheckoutAttempt.state, "checkout_session_id": CheckoutAttempt.checkout_session_id},
    sortable={"created_at": CheckoutAttempt.created_at, "updated_at": CheckoutAttempt.updated_at},
    created_at=CheckoutAttempt.created_at,
    tiebreak=CheckoutAttempt.id,
)


@dataclass(frozen=True)
class Gateway:
    """What the flow needs to reach processors: its own database (each step is a transaction of its own), the
    public URL customers come back to, and the key that opens processor credentials."""

    database: Database
    public_url: str
    box: SecretBox


@dataclass(frozen=True)
class CustomerDetails:
    name: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Confirmation:
    """What the customer submits. Amounts are never part of it, nor the tier: an attempt always starts at the
    primary tier, and only the server moves it down the cascade (a customer choosing a fallback tier would simply
    pay the cheaper price)."""

    payment_method: PaymentMethod
    customer: CustomerDetails = CustomerDetails()
    promotion_code: str | None = None
    client_ip: str | None = None


@dataclass(frozen=True)
class PendingCharge:
    """A processor attempt committed as pending: the call still to make."""

    account_id: str
    attempt_id: str
    processor_attempt_id: str
    processor_id: str
    request: ChargeRequest


@contextlib.asynccontextmanager
async def adapter_for(
    session: AsyncSession, processor: Processor, *, public_url: str, box: SecretBox
) -> AsyncIterator[ProcessorAdapter]:
    """The processor's adapter for the span of a call; Stripe's HTTP client is closed after it."""
    if processor.type == SIMULATOR:
        yield SimulatorProcessor(session, processor, public_url=public_url)
        return
    credentials = open_credentials(box, processor)
    if credentials is None:
        # A disconnected Stripe processor forgot its key: nothing can be asked of it any more.
        raise OutcomeUnknown(f"processor {processor.id!r} has no credentials")
    async with StripeProcessor(credentials.secret_key, processor.api_base) as stripe:
        yield stripe


# --- Reading --------------------------------------------------------------------------------------------------------


async def get_attempt(session: AsyncSession, account_id: str, attempt_id: str) -> CheckoutAttempt:
    return await one_or_not_found(
        session,
        select(CheckoutAttempt).where(CheckoutAttempt.id == attempt_id, CheckoutAttempt.account_id == account_id),
        "checkout_attempt",
        attempt_id,
    )


async def list_attempts(session: AsyncSession, account_id: str, params: ListParams) -> Page[CheckoutAttempt]:
    query = select(CheckoutAttempt).where(CheckoutAttempt.account_id == account_id)
    return await paginate(session, apply_list_params(query, ATTEMPT_LIST, params), params.page)


async def find_by_token(session: AsyncSession, secure_token: str) -> CheckoutSession:
    """The session a customer's token opens, whatever its state; an unknown token is a 404."""
    checkout = await checkout_service.find_by_token(session, secure_token)
    if checkout is None:
        raise NotFound("checkout_session", "(token)")
    return checkout


async def attempt_of_session(session: AsyncSession, checkout: CheckoutSession, attempt_id: str) -> CheckoutAttempt:
    """An attempt as its session's token holder may see it: another session's attempt is unknown."""
    attempt = await get_attempt(session, checkout.account_id, attempt_id)
    if attempt.checkout_session_id != checkout.id:
        raise NotFound("checkout_attempt", attempt_id)
    return attempt


# --- The flow -------------------------------------------------------------------------------------------------------


async def confirm(gateway: Gateway, secure_token: str, confirmation: Confirmation) -> CheckoutAttempt:
    """Pay the session: start an attempt, then charge until it succeeds, fails or waits for the customer."""
    async with gateway.database.writing() as session:
        attempt, pending = await begin_attempt(session, secure_token, confirmation, public_url=gateway.public_url)
        await session.commit()
    return await drive(gateway, attempt.account_id, attempt.id, pending, confirmation.payment_method)


async def resume(gateway: Gateway, secure_token: str, attempt_id: str) -> CheckoutAttempt:
    """After a 3-D Secure challenge: ask the processor how it ended, then complete or go on. Idempotent: an
    attempt no longer waiting is answered as it is."""
    attempt, waiting = await _waiting_charge(gateway, secure_token, attempt_id)
    if waiting is None:
        return attempt
    account_id = attempt.account_id
    try:
        async with gateway.database.writing() as session:
            async with adapter_for(
                session, waiting.processor, public_url=gateway.public_url, box=gateway.box
            ) as adapter:
                result = await adapter.confirm(waiting.reference)
            await session.commit()
    except OutcomeUnknown:
        return attempt
    if result.outcome is Outcome.REQUIRES_ACTION:
        return attempt
    async with gateway.database.writing() as session:
        pending = await record_result(
            session, account_id, waiting.processor_attempt_id, result, method=None, public_url=gateway.public_url
        )
        await session.commit()
    return await drive(gateway, account_id, attempt_id, pending, None)


@dataclass(frozen=True)
class WaitingCharge:
    """The charge a challenged attempt waits on: its processor attempt, the processor's reference and processor."""

    processor_attempt_id: str
    reference: str
    processor: Processor


async def _waiting_charge(
    gateway: Gateway, secure_token: str, attempt_id: str
) -> tuple[CheckoutAttempt, WaitingCharge | None]:
    """The session's attempt, and the charge it waits on (None once it waits on none)."""
    async with gateway.database.reading() as session:
        checkout = await find_by_token(session, secure_token)
        attempt = await attempt_of_session(session, checkout, attempt_id)
        waiting = _waiting_on(attempt)
        if attempt.state != REQUIRES_ACTION or waiting is None or waiting.processor_reference is None:
            return attempt, None
        processor = await session.get(Processor, waiting.processor_id)
    assert processor is not None  # processors are never deleted, only disconnected
    return attempt, WaitingCharge(waiting.id, waiting.processor_reference, processor)


async def drive(
    gateway: Gateway, account_id: str, attempt_id: str, pending: PendingCharge | None, method: PaymentMethod | None
) -> CheckoutAttempt:
    """Call processors one at a time until the attempt settles. A processor that can't tell what it did leaves the
    attempt processing for the recovery pass: trying another one could charge the customer twice."""
    while pending is not None:
        try:
            result = await call_processor(gateway, pending)
        except OutcomeUnknown:
            break
        async with gateway.database.writing() as session:
            pending = await record_result(
                session,
                account_id,
                pending.processor_attempt_id,
                result,
                method=method,
                public_url=gateway.public_url,
            )
            await session.commit()
    async with gateway.database.reading() as session:
        return await get_attempt(session, account_id, attempt_id)


async def call_processor(gateway: Gateway, pending: PendingCharge) -> ChargeResult:
    """The processor call, in a transaction of its own and under no lock (the simulator's "network" is a table)."""
    async with gateway.database.writing() as session:
        processor = await session.get(Processor, pending.processor_id)
        assert processor is not None
        async with adapter_for(session, processor, public_url=gateway.public_url, box=gateway.box) as adapter:
            result = await adapter.charge(pending.request)
        await session.commit()
    return result


async def begin_attempt(
    session: AsyncSession, secure_token: str, confirmation: Confirmation, *, public_url: str
) -> tuple[CheckoutAttempt, PendingCharge | None]:
    """Check and lock the session, start the attempt and stage its first charge; the caller commits before
    calling the processor. Bad input changes nothing (the caller's transaction rolls back)."""
    found = await find_by_token(session, secure_token)
    checkout = await checkout_service.lock_session(session, found.account_id, found.id)
    current = checkout_service.state(checkout)
    if current != OPEN:
        raise Conflict(
            f"Checkout session {checkout.id!r} is {current}; it can't be paid.",
            code="checkout_session_completed" if current == SUCCESS else "checkout_session_expired",
        )
    await _refuse_while_in_flight(session, checkout)
    await _check_rate_limits(session, checkout, confirmation.client_ip)
    _check_confirmation(checkout, confirmation)
    if confirmation.promotion_code is not None:
        await apply_promotion_code(session, checkout, confirmation.promotion_code)

    method = confirmation.payment_method
    attempt = CheckoutAttempt(
        id=new_id(ATTEMPT_PREFIX),
        account_id=checkout.account_id,
        checkout_session_id=checkout.id,
        customer_id=checkout.customer_id,
        state=PENDING,
        tier=PRIMARY_TIER,
        currency=checkout.currency,
        submitted_customer_info={
            key: value
            for key, value in (("name", confirmation.customer.name), ("email", confirmation.customer.email))
            if value is not None
        },
        # A processor's payment method id is no secret and goes on the payment; a card number is never kept.
        payment_method_reference=method.processor_reference,
        three_ds_mode=checkout.three_ds_mode,
        client_ip=confirmation.client_ip,
        processor_attempts=[],
        transitions=[],
    )
    session.add(attempt)
    await session.flush()
    await record_event(session, account_id=attempt.account_id, type="checkout_attempt.created", obj=attempt)
    await _move(session, attempt, PROCESSING, tier=attempt.tier)
    pending = await _advance(session, checkout, attempt, method, next_tier=False, public_url=public_url)
    return attempt, pending


async def record_result(
    session: AsyncSession,
    account_id: str,
    processor_attempt_id: str,
    result: ChargeResult,
    *,
    method: PaymentMethod | None,
    public_url: str,
) -> PendingCharge | None:
    """Record what a processor answered, under the session's lock, and stage the next charge if there is one.
    An answer already recorded (by recovery, or a repeated resume) changes nothing."""
    processor_attempt = await session.scalar(
        select(ProcessorAttempt).where(
            ProcessorAttempt.id == processor_attempt_id, ProcessorAttempt.account_id == account_id
        )
    )
    if processor_attempt is None:
        raise NotFound("processor_attempt", processor_attempt_id)
    attempt = await get_attempt(session, account_id, processor_attempt.checkout_attempt_id)
    checkout = await checkout_service.lock_session(session, account_id, attempt.checkout_session_id)
    # Re-read inside the lock: whoever held it may have recorded this very answer.
    await session.refresh(attempt)
    await session.refresh(processor_attempt)
    if attempt.state not in (PROCESSING, REQUIRES_ACTION) or processor_attempt.charge_status not in (
        CHARGE_PENDING,
        REQUIRES_ACTION,
    ):
        return None
    processor_attempt.charge_status = result.outcome.value
    processor_attempt.decline_code = result.decline_code
    processor_attempt.processor_reference = result.processor_reference or processor_attempt.processor_reference
    processor_attempt.processor_message = result.processor_message
    # A challenge the processor has no page for (Stripe's use_stripe_sdk) runs in Stripe.js, on a page of ours.
    processor_attempt.action_url = result.action_url or (
        authenticate_url(public_url, checkout, attempt) if result.outcome is Outcome.REQUIRES_ACTION else None
    )
    processor_attempt.saved_payment_method = result.saved_payment_method
    await session.flush()

    if result.outcome is Outcome.SUCCEEDED:
        if attempt.state == REQUIRES_ACTION:
            await _move(session, attempt, PROCESSING, processor_attempt_id=processor_attempt.id)
        for other in attempt.processor_attempts:
            if other.id != processor_attempt.id and other.charge_status == REQUIRES_ACTION:
                other.charge_status = CHARGE_CANCELED
        try:
            # A savepoint: a refusal (the discount was used up meanwhile) undoes the completion alone, and the
            # charge stays recorded for the merchant to refund.
            async with session.begin_nested():
                await completion.complete(session, checkout, attempt, processor_attempt)
        except CheckstandError as refusal:
            await session.refresh(attempt)
            await session.refresh(processor_attempt)
            await _give_up(
                session,
                attempt,
                None,
                debug=f"Charged by {processor_attempt.processor_name} ({processor_attempt.processor_reference}) "
                f"but the session could not complete: {refusal.detail} Refund the charge.",
            )
            return None
        await _move(session, attempt, SUCCEEDED, processor_attempt_id=processor_attempt.id)
        await record_event(session, account_id=account_id, type="checkout_attempt.succeeded", obj=attempt)
        return None
    if result.outcome is Outcome.REQUIRES_ACTION:
        if attempt.three_ds_mode == PREFER_NON_3DS and attempt.state == PROCESSING and method is not None:
            # Another processor of the route may take the payment without a challenge; this one waits meanwhile.
            pending = await _next_charge(session, checkout, attempt, method, public_url=public_url)
            if pending is not None:
                return pending
        # The first challenge is the one to show: a processor further down is no better a chance.
        await _await_action(session, attempt, _waiting_on(attempt, any_deferred=True) or processor_attempt)
        return None
    if result.outcome is Outcome.DECLINED and not result.retryable:
        if result.decline_code in AMOUNT_MAY_FIX:
            return await _advance(session, checkout, attempt, method, next_tier=True, public_url=public_url)
        await _give_up(session, attempt, processor_attempt)
        return None
    return await _advance(session, checkout, attempt, method, next_tier=False, public_url=public_url)


async def _advance(
    session: AsyncSession,
    checkout: CheckoutSession,
    attempt: CheckoutAttempt,
    method: PaymentMethod | None,
    *,
    next_tier: bool,
    public_url: str,
) -> PendingCharge | None:
    """The next charge: the next processor of this tier's route, else the first of the next tier's; when none is
    left, a challenge put off for ``prefer_non_3ds`` is the last chance, else the attempt fails."""
    if method is None:
        # After a restart or a challenge the card is gone (it is never stored); the customer tries again.
        await _give_up(session, attempt, _last_answer(attempt), debug="no payment method to try again with")
        return None
    tiers = checkout_service.tier_count(checkout)
    while True:
        if not next_tier:
            pending = await _next_charge(session, checkout, attempt, method, public_url=public_url)
            if pending is not None:
                return pending
        if attempt.tier + 1 >= tiers:
            break
        attempt.tier += 1
        next_tier = False
        await _move(session, attempt, PROCESSING, tier=attempt.tier, reason="cascade")
    deferred = _waiting_on(attempt, any_deferred=True)
    if deferred is not None:
        await _await_action(session, attempt, deferred)
        return None
    await _give_up(session, attempt, _last_answer(attempt))
    return None


async def _next_charge(
    session: AsyncSession,
    checkout: CheckoutSession,
    attempt: CheckoutAttempt,
    method: PaymentMethod,
    *,
    public_url: str,
) -> PendingCharge | None:
    """Stage the next processor of the current tier not tried yet (recording the skipped ones), or None."""
    tier = attempt.tier
    route_id = checkout.processor_route_id
    if tier > PRIMARY_TIER:
        route_id = checkout.cascade_routes[tier - 1] or route_id
    choices = await routes.processors_for_charge(
        session, checkout.account_id, currency=checkout.currency, route_id=route_id
    )
    tried = {p.processor_id for p in attempt.processor_attempts if p.tier == tier}
    amount = checkout.tier_amounts[tier]
    for choice in choices:
        if choice.processor.id in tried:
            continue
        skip = choice.skip_reason or (SKIP_SETUP_ONLY if choice.disposition == routes.SETUP_ONLY else None)
        if skip is None and not _takes(choice.processor, method):
            skip = SKIP_METHOD
        position = len(attempt.processor_attempts)
        processor_attempt = ProcessorAttempt(
            id=new_id(PROCESSOR_ATTEMPT_PREFIX),
            account_id=attempt.account_id,
            checkout_attempt_id=attempt.id,
            position=position,
            tier=tier,
            processor_id=choice.processor.id,
            processor_name=choice.processor.name,
            disposition=choice.disposition,
            charge_status=CHARGE_SKIPPED if skip else CHARGE_PENDING,
            skip_reason=skip,
            idempotency_key=None if skip else f"{attempt.id}:{position}",
            amount_atom=amount,
            currency=checkout.currency,
        )
        attempt.processor_attempts.append(processor_attempt)
        await session.flush()
        if skip is not None:
            continue
        assert processor_attempt.idempotency_key is not None
        simulated = choice.processor.type == SIMULATOR
        return PendingCharge(
            account_id=attempt.account_id,
            attempt_id=attempt.id,
            processor_attempt_id=processor_attempt.id,
            processor_id=choice.processor.id,
            request=ChargeRequest(
                idempotency_key=processor_attempt.idempotency_key,
                amount_atom=amount,
                currency=checkout.currency,
                payment_method=method,
                # Only the simulator is sent a description and return URL: localstripe, which Stripe's tests run
                # against, refuses both, and Stripe's own 3-D Secure runs in Stripe.js without a redirect.
                description=f"Checkout session {checkout.id}" if simulated else None,
                customer_email=attempt.submitted_customer_info.get("email"),
                save_payment_method=completion.recurs(checkout, tier),
                return_url=return_url(public_url, checkout, attempt) if simulated else None,
                three_ds_mode=attempt.three_ds_mode,
            ),
        )
    return None


async def page_processor(session: AsyncSession, checkout: CheckoutSession) -> Processor | None:
    """The processor whose card form the hosted page shows: the first the session's primary tier would charge.

    A Stripe connection without a publishable key is passed over, since Stripe.js can't run without one; a card
    typed into the next processor's form would pass it over too (card numbers never reach Stripe). None when no
    processor of the route can take the page's payment: the page then says so and offers no form."""
    choices = await routes.processors_for_charge(
        session, checkout.account_id, currency=checkout.currency, route_id=checkout.processor_route_id
    )
    for choice in choices:
        showable = choice.processor.type != STRIPE or choice.processor.publishable_key is not None
        if choice.usable and choice.disposition == routes.CHARGE_AND_SETUP and showable:
            return choice.processor
    return None


def _takes(processor: Processor, method: PaymentMethod) -> bool:
    """Whether the processor can charge this kind of payment method. Card numbers reach only the simulator (a real
    processor is paid with its own payment method id), and each processor knows only its own method ids."""
    if method.card is not None:
        return processor.type == SIMULATOR
    saved_on_simulator = (method.processor_reference or "").startswith(f"{SAVED_METHOD_PREFIX}_")
    return saved_on_simulator == (processor.type == SIMULATOR)


def return_url(public_url: str, checkout: CheckoutSession, attempt: CheckoutAttempt) -> str:
    """Where a 3-D Secure challenge sends the customer back: the hosted page, told which attempt to resume."""
    return f"{public_url.rstrip('/')}/c/{checkout.secure_token}?checkout_attempt_id={attempt.id}"


def authenticate_url(public_url: str, checkout: CheckoutSession, attempt: CheckoutAttempt) -> str:
    """The hosted page that runs a Stripe challenge in Stripe.js (``handleNextAction``), then resumes the attempt."""
    return f"{public_url.rstrip('/')}/c/{checkout.secure_token}/authenticate?checkout_attempt_id={attempt.id}"


@dataclass(frozen=True)
class StripeChallenge:
    """What Stripe.js needs to run a PaymentIntent's challenge in the customer's browser. The client secret
    confirms that PaymentIntent: it goes to that customer's page only, and is never stored or logged."""

    publishable_key: str
    client_secret: str = field(repr=False)


async def stripe_challenge(gateway: Gateway, secure_token: str, attempt_id: str) -> StripeChallenge | None:
    """The Stripe challenge an attempt waits on, read from Stripe now; None when it waits on none (settled, another
    processor's, processing at Stripe, a connection without a publishable key, or Stripe can't be asked)."""
    _, waiting = await _waiting_charge(gateway, secure_token, attempt_id)
    if waiting is None:
        return None
    processor = waiting.processor
    credentials = open_credentials(gateway.box, processor)
    if processor.type != STRIPE or processor.publishable_key is None or credentials is None:
        return None
    try:
        async with StripeProcessor(credentials.secret_key, processor.api_base) as stripe:
            client_secret = await stripe.client_secret(waiting.reference)
    except OutcomeUnknown:
        return None
    return None if client_secret is None else StripeChallenge(processor.publishable_key, client_secret)


def _last_answer(attempt: CheckoutAttempt) -> ProcessorAttempt | None:
    answered = [p for p in attempt.processor_attempts if p.charge_status not in (CHARGE_SKIPPED, CHARGE_PENDING)]
    return answered[-1] if answered else None


def _waiting_on(attempt: CheckoutAttempt, *, any_deferred: bool = False) -> ProcessorAttempt | None:
    """The processor attempt whose challenge the customer is (or, deferred, could be) asked to complete."""
    for candidate in attempt.processor_attempts:
        if candidate.charge_status == REQUIRES_ACTION and (any_deferred or candidate.action_url == attempt.action_url):
            return candidate
    return None


async def _await_action(session: AsyncSession, attempt: CheckoutAttempt, waiting: ProcessorAttempt) -> None:
    attempt.action_url = waiting.action_url
    await _move(session, attempt, REQUIRES_ACTION, processor_attempt_id=waiting.id)
    await record_event(session, account_id=attempt.account_id, type="checkout_attempt.requires_action", obj=attempt)


async def _give_up(
    session: AsyncSession, attempt: CheckoutAttempt, last: ProcessorAttempt | None, *, debug: str | None = None
) -> None:
    """The attempt fails; the session stays open for another try. The customer's message is ours, never the
    processor's own words, which go to the merchant only."""
    code = last.decline_code if last is not None else None
    attempt.decline_code = code
    attempt.error_message_for_customer = customer_message(code)
    attempt.error_message_for_debug = debug or (
        (last.processor_message or f"{last.processor_name}: {last.charge_status}")
        if last is not None
        else "No processor of the route could take the payment."
    )
    attempt.action_url = None
    for other in attempt.processor_attempts:
        if other.charge_status == REQUIRES_ACTION:
            other.charge_status = CHARGE_CANCELED
    await _move(session, attempt, FAILED, decline_code=code)
    await record_event(session, account_id=attempt.account_id, type="payment.failed", obj=attempt)
    await record_event(session, account_id=attempt.account_id, type="checkout_attempt.failed", obj=attempt)


async def _move(session: AsyncSession, attempt: CheckoutAttempt, to_state: str, **context: object) -> None:
    """Change state and log the transition, timestamped (a cascade step logs processing -> processing)."""
    attempt.transitions.append(
        AttemptTransition(
            id=new_id(TRANSITION_PREFIX),
            account_id=attempt.account_id,
            checkout_attempt_id=attempt.id,
            position=len(attempt.transitions),
            from_state=attempt.state,
            to_state=to_state,
            context={key: value for key, value in context.items() if value is not None},
            created_at=clock.now(),
        )
    )
    attempt.state = to_state
    attempt.updated_at = clock.now()
    await session.flush()


async def apply_settlement(
    session: AsyncSession, processor_id: str, settlement: Settlement, *, public_url: str
) -> bool:
    """What a Stripe event says of a charge (:func:`checkstand.processors.stripe.receive_event`), applied
    to its attempt: a challenge decided in Stripe.js completes or fails it as a resume would. A charge still being
    called is left to the request calling it, unless it succeeded (recording success early is always right;
    recording a decline there would cut its route short). Returns whether anything was applied."""
    processor_attempt = await session.scalar(
        select(ProcessorAttempt).where(
            ProcessorAttempt.processor_id == processor_id,
            ProcessorAttempt.idempotency_key == settlement.idempotency_key,
        )
    )
    if processor_attempt is None:
        return False
    status = processor_attempt.charge_status
    applies = status == REQUIRES_ACTION or (status == CHARGE_PENDING and settlement.result.outcome is Outcome.SUCCEEDED)
    if not applies or settlement.result.outcome is Outcome.REQUIRES_ACTION:
        return False
    await record_result(
        session,
        processor_attempt.account_id,
        processor_attempt.id,
        settlement.result,
        method=None,
        public_url=public_url,
    )
    return True


async def settle_stripe_event(session: AsyncSession, processor_id: str, receipt: Receipt, *, public_url: str) -> None:
    """The attempts module's half of receiving a Stripe event: apply its settlement, then mark the stored event
    processed, in the receiving transaction."""
    if receipt.duplicate or receipt.settlement is None:
        return
    await apply_settlement(session, processor_id, receipt.settlement, public_url=public_url)
    stored = await session.get(StripeEvent, (receipt.event_id, processor_id))
    if stored is not None:
        stored.processed_at = clock.now()
        await session.flush()


# --- Checks before an attempt ---------------------------------------------------------------------------------------


def _check_confirmation(checkout: CheckoutSession, confirmation: Confirmation) -> None:
    problems: list[FieldProblem] = []
    if checkout.customer_id is None:
        problems += [
            FieldProblem(("body", "customer", name), "required when the session has no customer", "missing")
            for name in ("name", "email")
            if not getattr(confirmation.customer, name)
        ]
    if problems:
        raise InvalidFields(problems)


async def _check_rate_limits(session: AsyncSession, checkout: CheckoutSession, client_ip: str | None) -> None:
    since = clock.now() - RATE_WINDOW
    failed = await session.scalar(
        select(func.count())
        .select_from(CheckoutAttempt)
        .where(
            CheckoutAttempt.checkout_session_id == checkout.id,
            CheckoutAttempt.state == FAILED,
            CheckoutAttempt.created_at >= since,
        )
    )
    if (failed or 0) >= MAX_FAILED_PER_SESSION:
        raise RateLimited("Too many failed payments for this checkout; try again later.", code="too_many_attempts")
    if client_ip is None:
        return
    from_ip = await session.scalar(
        select(func.count())
        .select_from(CheckoutAttempt)
        .where(CheckoutAttempt.client_ip == client_ip, CheckoutAttempt.created_at >= since)
    )
    if (from_ip or 0) >= MAX_ATTEMPTS_PER_IP:
        raise RateLimited("Too many payment attempts; try again later.", code="too_many_attempts")


async def apply_promotion_code(session: AsyncSession, checkout: CheckoutSession, code: str) -> None:
    """A code the customer typed on the page, on a session locked by the caller. Refused while an attempt is in
    flight: the amount it is charging must stay the session's amount."""
    await _refuse_while_in_flight(session, checkout)
    await checkout_service.apply_promotion_code(session, checkout, code)


async def change_plan(session: AsyncSession, checkout: CheckoutSession, position: int, rank: int) -> bool:
    """A plan tier the customer chose, on a session locked by the caller; refused while an attempt is in flight, for
    the same reason as a promotion code. Answers whether the plan changed."""
    await _refuse_while_in_flight(session, checkout)
    return await checkout_service.change_plan(session, checkout, position, rank)


async def _refuse_while_in_flight(session: AsyncSession, checkout: CheckoutSession) -> None:
    in_flight = await session.scalar(
        select(CheckoutAttempt.id).where(
            CheckoutAttempt.checkout_session_id == checkout.id, CheckoutAttempt.state.in_(IN_FLIGHT)
        )
    )
    if in_flight is not None:
        raise Conflict(
            f"Checkout attempt {in_flight!r} of this session is still in progress.",
            code="checkout_attempt_in_progress",
        )


# --- Recovery -------------------------------------------------------------------------------------------------------


async def recover_stuck_attempts(session: AsyncSession, *, public_url: str, box: SecretBox) -> int:
    """Worker job: settle attempts left ``processing`` past :data:`RECOVERY_LEASE` (their process died or lost
    its processor mid-call) by asking the processor again with the same idempotency key. Charged: recorded and
    completed. Never received: recorded as unavailable, and the attempt fails (the card is not kept). Still
    unknown: left for the next round. Returns how many attempts were settled."""
    stale = (
        await session.scalars(
            select(ProcessorAttempt)
            .join(CheckoutAttempt, CheckoutAttempt.id == ProcessorAttempt.checkout_attempt_id)
            .where(
                CheckoutAttempt.state == PROCESSING,
                CheckoutAttempt.updated_at <= clock.now() - RECOVERY_LEASE,
                ProcessorAttempt.charge_status == CHARGE_PENDING,
            )
            .order_by(CheckoutAttempt.updated_at)
            .limit(RECOVERY_BATCH)
        )
    ).all()
    abandoned = (
        await session.scalars(
            select(CheckoutAttempt)
            .where(CheckoutAttempt.state == REQUIRES_ACTION, CheckoutAttempt.updated_at <= clock.now() - ACTION_TIMEOUT)
            .order_by(CheckoutAttempt.updated_at)
            .limit(RECOVERY_BATCH)
        )
    ).all()
    settled = 0
    for processor_attempt in stale:
        if await _recover_one(session, processor_attempt, public_url=public_url, box=box):
            settled += 1
    for attempt in abandoned:
        if await _expire_challenge(session, attempt, public_url=public_url, box=box):
            settled += 1
    return settled


async def _expire_challenge(
    session: AsyncSession, attempt: CheckoutAttempt, *, public_url: str, box: SecretBox
) -> bool:
    """An undecided challenge past its time fails the attempt; one decided meanwhile is recorded as decided."""
    waiting = _waiting_on(attempt)
    if waiting is None or waiting.processor_reference is None:
        return False
    processor = await session.get(Processor, waiting.processor_id)
    assert processor is not None
    try:
        async with adapter_for(session, processor, public_url=public_url, box=box) as adapter:
            result = await adapter.confirm(waiting.processor_reference)
    except OutcomeUnknown:
        return False
    if result.outcome is Outcome.REQUIRES_ACTION:
        result = ChargeResult(
            Outcome.DECLINED,
            processor_reference=waiting.processor_reference,
            decline_code=DeclineCode.AUTHENTICATION_FAILED,
            processor_message="The customer did not complete the 3-D Secure challenge in time.",
        )
    await record_result(session, attempt.account_id, waiting.id, result, method=None, public_url=public_url)
    return True


async def _recover_one(
    session: AsyncSession, processor_attempt: ProcessorAttempt, *, public_url: str, box: SecretBox
) -> bool:
    processor = await session.get(Processor, processor_attempt.processor_id)
    assert processor is not None
    assert processor_attempt.idempotency_key is not None
    try:
        async with adapter_for(session, processor, public_url=public_url, box=box) as adapter:
            result = await adapter.lookup(processor_attempt.idempotency_key)
    except OutcomeUnknown:
        return False
    if result is None:
        result = ChargeResult(Outcome.UNAVAILABLE, processor_message="The processor never received the charge.")
    await record_result(
        session, processor_attempt.account_id, processor_attempt.id, result, method=None, public_url=public_url
    )
    return True
