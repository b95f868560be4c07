"""The billing engine: renewals, trial conversions, dunning retries, trial-ending notices and resumed collection,
run by the worker as of each customer's own time, and the manual billing calls the subscription endpoints make.

A renewal, whoever starts it (any number of workers, a test clock catching up, a merchant's ``renew``):

1. locks the subscription and re-checks it is due (its period ended, on its customer's clock);
2. makes the next period's invoice, unique per subscription and period in the database (an invoice with a payment
   already there, or an ``IntegrityError``, means someone else is billing the period), and its payment with the
   first charge staged pending (:mod:`checkstand.payments.off_session`), and commits;
3. charges the saved method with no transaction open, and settles: paid moves the subscription to the new period
   (``subscription.renewed``, ``invoice.paid``); failed puts it past due and schedules retries
   (:mod:`checkstand.payments.dunning`), after the last of which it is canceled or unpaid.

A plan change scheduled for the period's end applies as its next period is billed, and the invoice bills the new
plan. A subscription set to cancel at its period's end, or whose contract term ends without renewing
(:mod:`checkstand.subscriptions.contracts`), is canceled then instead; one whose collection is paused gets its
period's invoice voided and moves on uncharged (Stripe's ``pause_collection: void``), until ``resumes_at``.

A subscription with a metered price bills that price's usage of the period just ended on the same invoice
(:mod:`checkstand.usage.service`), so its renewal is due ``CHECKSTAND_USAGE_GRACE_SECONDS`` after the period's end,
for usage reported late to be billed; a manual ``renew`` waits for the period's end. Ending at its period's end, it
still bills that last period's usage, on a final invoice.

Time: the worker's regular jobs handle customers on no clock (the real time) and on clocks at rest (their frozen
time). A clock being advanced has its own job, which replays everything due for its customers in time order, each
as of its own due moment, so a year's advance makes twelve monthly renewals, each dated when it fell due.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout import lifecycle as checkout_lifecycle
from checkstand.core import clock
from checkstand.core.errors import Conflict
from checkstand.invoices import renewal
from checkstand.invoices import service as invoices
from checkstand.invoices.models import OPEN, PAST_DUE, SUBSCRIPTION_CYCLE, Invoice
from checkstand.payments import off_session, settlement
from checkstand.payments.adapters import Gateway
from checkstand.payments.dunning import DunningPolicy
from checkstand.payments.models import CHARGE_PENDING, Payment, PaymentCharge
from checkstand.subscriptions import contracts, lifecycle, plan_changes
from checkstand.subscriptions import service as subscriptions
from checkstand.subscriptions.models import CANCELED, TRIALING, Subscription
from checkstand.subscriptions.models import PAST_DUE as SUBSCRIPTION_PAST_DUE
from checkstand.test_clocks import service as test_clocks
from checkstand.test_clocks.models import TestClock

BATCH: Final = 50
# How long before a trial's end ``subscription.trial_will_end`` is recorded (as Stripe's).
TRIAL_NOTICE: Final = timedelta(days=3)
# A clock's customers are caught up this many steps per round, so one long advance never starves other jobs.
CLOCK_STEPS_PER_ROUND: Final = 100
CLOCKS_PER_ROUND: Final = 5

# What create_renewal_invoice answers (the SDK's CreateRenewalInvoiceResponse.status).
INVOICE_CREATED: Final = "invoice_created"
SKIPPED: Final = "skipped"
STOPPED: Final = "stopped"
# Why a renewal invoice isn't made ahead of time for a subscription billing usage in arrears.
USAGE_PERIOD_OPEN: Final = "usage_period_open"


# --- Renewing one subscription ------------------------------------------------------------------------------------


def _period_billed(subscription_id: Any, period_start: Any) -> ColumnElement[bool]:
    """Whether a payment exists for the renewal invoice of the period starting at ``period_start``: someone is (or
    was) collecting it."""
    return exists(
        select(Payment.id)
        .join(Invoice, Invoice.id == Payment.invoice_id)
        .where(
            Invoice.subscription_id == subscription_id,
            Invoice.billing_reason == SUBSCRIPTION_CYCLE,
            Invoice.period_start == period_start,
        )
    )


async def _renewal_invoice(
    session: AsyncSession, subscription: Subscription, *, issued_at: datetime, manual: bool
) -> Invoice | None:
    """The invoice of the subscription's next period to collect now: a new one, or one made ahead of time by
    ``create_renewal_invoice`` and not yet collected. None (or, asked by hand, a conflict) when another process is
    collecting the period."""
    period_start, period_end = renewal.next_period(subscription)
    existing = await session.scalar(
        select(Invoice).where(
            Invoice.subscription_id == subscription.id,
            Invoice.billing_reason == SUBSCRIPTION_CYCLE,
            Invoice.period_start == period_start,
        )
    )
    if existing is None:
        try:
            async with session.begin_nested():
                return await renewal.build_renewal_invoice(
                    session, subscription, period_start, period_end, issued_at=issued_at
                )
        except IntegrityError:
            existing = None  # a racing process committed the period's invoice first
    elif (
        existing.status == OPEN and await session.scalar(select(_period_billed(subscription.id, period_start))) is False
    ):
        return existing
    if manual:
        raise Conflict(
            f"The period of subscription {subscription.id} starting {period_start.isoformat()} is already billed.",
            code="period_already_billed",
        )
    return None


@dataclass(frozen=True)
class _Opened:
    """What step 2 did: whether it changed anything, the invoice to collect, and the charge to make."""

    changed: bool
    invoice: Invoice | None = None
    staged: off_session.StagedCharge | None = None


async def _open_renewal(
    session: AsyncSession, gateway: Gateway, subscription: Subscription, *, now: datetime, manual: bool
) -> _Opened:
    """Step 2 of a renewal, in the caller's transaction, the subscription locked."""
    if subscription.status not in lifecycle.RUNNING:
        if manual:
            raise Conflict(
                f"Subscription {subscription.id} is {subscription.status}.", code="subscription_not_renewable"
            )
        return _Opened(changed=False)
    due_at = lifecycle.renewal_due_at(subscription) + lifecycle.usage_wait(subscription, gateway.policy.usage_grace)
    if not manual and due_at > now:
        return _Opened(changed=False)
    if (ending := contracts.ends_at_renewal(subscription)) is not None:
        if manual:
            raise Conflict(f"Subscription {subscription.id} {contracts.ENDING[ending]}.", code=ending)
        # The last period's usage is still owed (billed in arrears): a final invoice bills it.
        owed = lifecycle.owes_usage(subscription)
        final = await renewal.build_final_invoice(session, subscription, issued_at=due_at) if owed else None
        await lifecycle.end_at_period_end(session, subscription, now)
        if final is None:
            return _Opened(changed=True)
        if subscription.paused_at is not None:
            await invoices.void(session, final)  # collection paused: nothing is charged, as for its periods
            return _Opened(changed=True, invoice=final)
        return await _collect(session, gateway, subscription, final, now=now)
    if manual and lifecycle.usage_period_open(subscription, now):
        raise Conflict(
            f"Subscription {subscription.id} bills usage in arrears: its period runs until "
            f"{subscription.current_period_end.isoformat()}, and is billed once it ends.",
            code=USAGE_PERIOD_OPEN,
        )
    invoice = await _renewal_invoice(session, subscription, issued_at=now if manual else due_at, manual=manual)
    if invoice is None:
        return _Opened(changed=False)
    assert invoice.period_start is not None
    assert invoice.period_end is not None
    # The invoice bills the plan a change scheduled for the period's end starts, on the prices a bulk migration moved
    # its items to: the subscription now holds it.
    await plan_changes.apply_renewal_plan(session, subscription)
    if subscription.paused_at is not None:
        await invoices.void(session, invoice)
        await lifecycle.period_skipped(session, subscription, invoice.period_start, invoice.period_end)
        return _Opened(changed=True, invoice=invoice)
    return await _collect(session, gateway, subscription, invoice, now=now)


async def _collect(
    session: AsyncSession, gateway: Gateway, subscription: Subscription, invoice: Invoice, *, now: datetime
) -> _Opened:
    """Collect a renewal's invoice: settled at once when there is nothing to charge, else its charge staged for
    step 3."""
    if invoice.total_atom == 0:
        await settlement.invoice_paid(session, invoice, amount_atom=0, now=now)
        return _Opened(changed=True, invoice=invoice)
    payment = await off_session.new_invoice_payment(session, invoice, subscription)
    return _Opened(True, invoice, await off_session.begin_charge(session, gateway, payment, now=now))


async def _renew(gateway: Gateway, account_id: str, subscription_id: str, *, now: datetime, manual: bool) -> _Opened:
    """Steps 1 to 3; what was done, with the invoice as collected."""
    async with gateway.database.writing() as session:
        subscription = await lifecycle.lock_subscription(session, account_id, subscription_id)
        opened = await _open_renewal(session, gateway, subscription, now=now, manual=manual)
        await session.commit()
    if opened.invoice is None:
        return opened
    if opened.staged is not None:
        await off_session.make_charge(gateway, opened.staged)
    async with gateway.database.reading() as session:
        return _Opened(True, await invoices.get_invoice(session, account_id, opened.invoice.id))


async def renew_subscription(gateway: Gateway, account_id: str, subscription_id: str) -> Invoice:
    """Bill the subscription's next period now, ahead of its end (the SDK's ``renew``): the invoice is made and
    charged at once, and paid moves the subscription on. A period already billed (by the worker, or a racing
    ``renew``) is a conflict, as is a subscription that has ended or is set to end."""
    async with gateway.database.reading() as session:
        subscription = await subscriptions.get_subscription(session, account_id, subscription_id)
        now = await test_clocks.now_for_customer(session, subscription.customer_id)
    invoice = (await _renew(gateway, account_id, subscription_id, now=now, manual=True)).invoice
    assert invoice is not None  # a manual renewal that bills nothing raises instead
    return invoice


async def create_renewal_invoice(
    session: AsyncSession, account_id: str, subscription_id: str
) -> tuple[str, Invoice | None, str | None]:
    """Make the next period's invoice ahead of time, left open for the renewal to collect at the period's end (the
    SDK's ``create_renewal_invoice``): ``invoice_created``, ``skipped`` (set to cancel at the period's end, a contract
    term ending without renewal, the period already invoiced: that invoice is given, or a period whose usage is
    still being reported) or ``stopped`` (the subscription no longer runs)."""
    subscription = await lifecycle.lock_subscription(session, account_id, subscription_id)
    if subscription.status not in lifecycle.RUNNING:
        return STOPPED, None, f"subscription is {subscription.status}"
    if (ending := contracts.ends_at_renewal(subscription)) is not None:
        return SKIPPED, None, ending
    if lifecycle.usage_period_open(subscription, await test_clocks.now_for_customer(session, subscription.customer_id)):
        return SKIPPED, None, USAGE_PERIOD_OPEN
    period_start, period_end = renewal.next_period(subscription)
    existing = await session.scalar(
        select(Invoice).where(
            Invoice.subscription_id == subscription.id,
            Invoice.billing_reason == SUBSCRIPTION_CYCLE,
            Invoice.period_start == period_start,
        )
    )
    if existing is not None:
        return SKIPPED, existing, "already_invoiced"
    now = await test_clocks.now_for_customer(session, subscription.customer_id)
    invoice = await renewal.build_renewal_invoice(session, subscription, period_start, period_end, issued_at=now)
    return INVOICE_CREATED, invoice, None


async def apply_dunning_end_behavior(
    session: AsyncSession, account_id: str, subscription_id: str, *, policy: DunningPolicy | None = None
) -> Subscription:
    """End a past-due subscription's dunning now, as its last failed retry would: its overdue invoices given up on
    and the subscription canceled or unpaid, as ``policy`` (the operator's dunning settings) says."""
    subscription = await lifecycle.lock_subscription(session, account_id, subscription_id)
    if subscription.status != SUBSCRIPTION_PAST_DUE:
        raise Conflict(f"Subscription {subscription_id} is not past due.", code="subscription_not_past_due")
    now = await test_clocks.now_for_customer(session, subscription.customer_id)
    overdue = (
        await session.scalars(
            select(Invoice).where(
                Invoice.account_id == account_id, Invoice.subscription_id == subscription_id, Invoice.status == PAST_DUE
            )
        )
    ).all()
    policy = policy or DunningPolicy()
    for invoice in overdue:
        await settlement.end_dunning(session, invoice, subscription, policy=policy, now=now)
    if not overdue:
        await settlement.end_dunning(session, None, subscription, policy=policy, now=now)
    return subscription


async def notify_trial_ending(session: AsyncSession, account_id: str, subscription_id: str) -> bool:
    """Record ``subscription.trial_will_end`` now, once per trial; answers whether this call recorded it (decided
    under the subscription's lock, so of two calls at once one says so). Only a trialing subscription has a trial to
    end."""
    subscription = await lifecycle.lock_subscription(session, account_id, subscription_id)
    if subscription.status != TRIALING:
        raise Conflict(f"Subscription {subscription_id} is not trialing.", code="subscription_not_trialing")
    now = await test_clocks.now_for_customer(session, subscription.customer_id)
    return await lifecycle.trial_ending(session, subscription, now)


# --- Dunning retries ------------------------------------------------------------------------------------------------


async def _retry(gateway: Gateway, account_id: str, invoice_id: str, *, now: datetime) -> bool:
    """Try an overdue invoice again if its retry is due; says whether a retry was made."""
    async with gateway.database.writing() as session:
        invoice = await invoices.lock_invoice(session, account_id, invoice_id)
        if invoice.status != PAST_DUE or invoice.next_attempt_at is None or invoice.next_attempt_at > now:
            return False
        await invoices.hold_for_retry(session, invoice)
        subscription = (
            await lifecycle.lock_subscription(session, account_id, invoice.subscription_id)
            if invoice.subscription_id is not None
            else None
        )
        if subscription is not None and subscription.status == CANCELED:
            await session.commit()  # ended by other means: nothing left to collect for
            return False
        payment = await session.scalar(select(Payment).where(Payment.invoice_id == invoice.id))
        if payment is None:
            payment = await off_session.new_invoice_payment(session, invoice, subscription)
        pending = await session.scalar(
            select(PaymentCharge.id).where(
                PaymentCharge.payment_id == payment.id, PaymentCharge.status == CHARGE_PENDING
            )
        )
        if pending is not None:
            await session.rollback()
            return False
        staged = await off_session.begin_charge(session, gateway, payment, now=now)
        try:
            await session.commit()
        except IntegrityError:
            return False
    if staged is not None:
        await off_session.make_charge(gateway, staged)
    return True


# --- The regular jobs: customers on no clock, or on one at rest -----------------------------------------------------


def _customer_scope(query_now: datetime) -> tuple[ColumnElement[datetime], ColumnElement[bool]]:
    return test_clocks.customer_now(query_now), test_clocks.on_no_advancing_clock()


async def renew_due(gateway: Gateway) -> int:
    """Renew every subscription whose period has ended on its customer's time; returns how many were handled."""
    real_now = clock.now()
    customer_now, at_rest = _customer_scope(real_now)
    async with gateway.database.reading() as session:
        query = test_clocks.with_customer_clock(
            select(Subscription.account_id, Subscription.id, customer_now), Subscription.customer_id
        ).where(
            Subscription.status.in_(lifecycle.RUNNING),
            lifecycle.renewal_due(customer_now, gateway.policy.usage_grace),
            at_rest,
            ~_period_billed(Subscription.id, lifecycle.RENEWAL_DUE_AT),
        )
        due = (await session.execute(query.order_by(lifecycle.RENEWAL_DUE_AT).limit(BATCH))).all()
    done = 0
    for account_id, subscription_id, now in due:
        if (await _renew(gateway, account_id, subscription_id, now=clock.as_utc(now), manual=False)).changed:
            done += 1
    return done


async def retry_due(gateway: Gateway) -> int:
    """Retry every overdue invoice whose next attempt is due on its customer's time."""
    real_now = clock.now()
    customer_now, at_rest = _customer_scope(real_now)
    async with gateway.database.reading() as session:
        query = test_clocks.with_customer_clock(
            select(Invoice.account_id, Invoice.id, customer_now), Invoice.customer_id
        ).where(Invoice.status == PAST_DUE, Invoice.next_attempt_at <= customer_now, at_rest)
        due = (await session.execute(query.order_by(Invoice.next_attempt_at).limit(BATCH))).all()
    done = 0
    for account_id, invoice_id, now in due:
        if await _retry(gateway, account_id, invoice_id, now=clock.as_utc(now)):
            done += 1
    return done


def trial_notice_at(subscription: Subscription) -> datetime | None:
    """When ``subscription.trial_will_end`` is due: three days before the trial ends, or at its start when it is
    shorter."""
    if subscription.trial_end is None:
        return None
    notice = subscription.trial_end - TRIAL_NOTICE
    return max(notice, subscription.trial_start) if subscription.trial_start is not None else notice


async def notify_trials_due(session: AsyncSession) -> int:
    """Record ``subscription.trial_will_end`` for trials ending within three days on their customer's time. Customers
    on no clock are selected in SQL; those on clocks at rest (few: test data) are checked one by one."""
    real_now = clock.now()
    pending = test_clocks.with_customer_clock(select(Subscription), Subscription.customer_id).where(
        Subscription.status == TRIALING,
        Subscription.trial_ending_notified_at.is_(None),
        test_clocks.on_no_advancing_clock(),
    )
    candidates = (
        await session.scalars(
            pending.where(
                (TestClock.id.is_(None) & (Subscription.trial_end <= real_now + TRIAL_NOTICE))
                | TestClock.id.is_not(None)
            )
            .order_by(Subscription.trial_end)
            .limit(BATCH)
            .with_for_update(skip_locked=True, of=Subscription)
        )
    ).all()
    done = 0
    for subscription in candidates:
        now = await test_clocks.now_for_customer(session, subscription.customer_id)
        notice = trial_notice_at(subscription)
        if notice is not None and notice <= now and await lifecycle.trial_ending(session, subscription, now):
            done += 1
    return done


async def resume_due(session: AsyncSession) -> int:
    """Resume collection of paused subscriptions whose ``resumes_at`` has come on their customer's time."""
    customer_now, at_rest = _customer_scope(clock.now())
    due = (
        await session.scalars(
            test_clocks.with_customer_clock(select(Subscription), Subscription.customer_id)
            .where(Subscription.paused_at.is_not(None), Subscription.resumes_at <= customer_now, at_rest)
            .order_by(Subscription.resumes_at)
            .limit(BATCH)
            .with_for_update(skip_locked=True, of=Subscription)
        )
    ).all()
    for subscription in due:
        await lifecycle.resume_collection(session, subscription)
    return len(due)


# --- Test clocks catching up ----------------------------------------------------------------------------------------

# At one moment: a resume first (the renewal then charges), a trial notice before the trial's end.
_RESUME, _TRIAL_NOTICE, _RENEWAL, _RETRY, _SESSION_EXPIRY = range(5)


@dataclass(frozen=True, order=True)
class _Due:
    moment: datetime
    kind: int
    account_id: str
    object_id: str


async def _next_due(session: AsyncSession, test_clock: TestClock, usage_grace: timedelta) -> _Due | None:
    """The earliest thing due for the clock's customers by its frozen time (a renewal billing usage waits
    ``usage_grace`` after its period's end)."""
    on_clock = test_clocks.on_clock(test_clock.id).scalar_subquery()
    horizon = test_clock.frozen_time
    found: list[_Due] = []
    subscriptions: Sequence[Subscription] = (
        await session.scalars(
            select(Subscription).where(
                Subscription.customer_id.in_(on_clock),
                Subscription.status.in_((*lifecycle.RUNNING, SUBSCRIPTION_PAST_DUE)),
            )
        )
    ).all()
    for subscription in subscriptions:
        a, s = subscription.account_id, subscription.id
        if subscription.paused_at is not None and subscription.resumes_at is not None:
            found.append(_Due(subscription.resumes_at, _RESUME, a, s))
        notice = trial_notice_at(subscription)
        if subscription.status == TRIALING and subscription.trial_ending_notified_at is None and notice is not None:
            found.append(_Due(notice, _TRIAL_NOTICE, a, s))
        due_at = lifecycle.renewal_due_at(subscription)
        if subscription.status in lifecycle.RUNNING and not await session.scalar(select(_period_billed(s, due_at))):
            found.append(_Due(due_at + lifecycle.usage_wait(subscription, usage_grace), _RENEWAL, a, s))
    retries = await session.execute(
        select(Invoice.next_attempt_at, Invoice.account_id, Invoice.id).where(
            Invoice.customer_id.in_(on_clock), Invoice.status == PAST_DUE, Invoice.next_attempt_at.is_not(None)
        )
    )
    found += [_Due(clock.as_utc(moment), _RETRY, a, i) for moment, a, i in retries.all() if moment is not None]
    if expiry := await checkout_lifecycle.next_expiry_on_clock(session, test_clock):
        found.append(_Due(expiry[0], _SESSION_EXPIRY, expiry[1], expiry[2]))
    due = [item for item in found if item.moment <= horizon]
    return min(due) if due else None


async def _step(gateway: Gateway, item: _Due) -> bool:
    """Process one due thing as of its due moment; says whether anything changed."""
    if item.kind == _RENEWAL:
        return (await _renew(gateway, item.account_id, item.object_id, now=item.moment, manual=False)).changed
    if item.kind == _RETRY:
        return await _retry(gateway, item.account_id, item.object_id, now=item.moment)
    async with gateway.database.writing() as session:
        if item.kind == _SESSION_EXPIRY:
            expired = await checkout_lifecycle.expire_due_session(session, item.account_id, item.object_id, item.moment)
            await session.commit()
            return expired
        subscription = await lifecycle.lock_subscription(session, item.account_id, item.object_id)
        if item.kind == _RESUME:
            await lifecycle.resume_collection(session, subscription)
            changed = True
        else:
            changed = await lifecycle.trial_ending(session, subscription, item.moment)
        await session.commit()
    return changed


async def _clock_busy(session: AsyncSession, test_clock: TestClock) -> bool:
    """Whether a charge of the clock's customers is still being made (or awaits recovery)."""
    on_clock = test_clocks.on_clock(test_clock.id).scalar_subquery()
    pending = await session.scalar(
        select(func.count()).where(PaymentCharge.customer_id.in_(on_clock), PaymentCharge.status == CHARGE_PENDING)
    )
    return bool(pending)


async def advance_test_clocks(gateway: Gateway) -> int:
    """Catch advancing clocks' customers up, one due thing at a time in time order, then mark each clock ready;
    returns how many things were processed (and clocks made ready)."""
    async with gateway.database.reading() as session:
        clocks = await test_clocks.advancing_clocks(session, CLOCKS_PER_ROUND)
    done = 0
    for test_clock in clocks:
        for _ in range(CLOCK_STEPS_PER_ROUND):
            async with gateway.database.reading() as session:
                item = await _next_due(session, test_clock, gateway.policy.usage_grace)
            if item is None or not await _step(gateway, item):
                break
            done += 1
        else:
            continue  # more is due: the next round goes on
        async with gateway.database.writing() as session:
            current = await session.get(TestClock, test_clock.id)
            if (
                current is None
                or await _clock_busy(session, current)
                or await _next_due(session, current, gateway.policy.usage_grace) is not None
            ):
                continue
            if await test_clocks.mark_ready(session, current):
                done += 1
            await session.commit()
    return done
