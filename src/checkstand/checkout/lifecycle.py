"""How an open checkout session ends: completed (paid, or free) or expired (by the merchant or the clock).

A session lives at its customer's time (:meth:`CheckoutSession.current_time`): a session of a customer on a test
clock expires when that clock passes ``expires_at``, never by the real time. The worker's expiry job handles
sessions at the real time and those on clocks at rest; a clock being advanced has its sessions expired by the
clock's own job (:mod:`checkstand.payments.renewals`), in time order with the rest of its customers' due work,
through :func:`next_expiry_on_clock` and :func:`expire_due_session`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout.models import EXPIRED, OPEN, PRIMARY_TIER, SUCCESS, CheckoutSession
from checkstand.checkout.service import lock_session, require_changeable, require_open, tier_items
from checkstand.core import clock
from checkstand.core.errors import BusinessRuleViolation, CheckstandError
from checkstand.customers.models import Customer
from checkstand.discounts import maths, redemptions
from checkstand.events.service import record_event, snapshot
from checkstand.test_clocks import service as test_clocks
from checkstand.test_clocks.models import READY, TestClock

EXPIRY_BATCH: Final = 100


async def complete_without_payment(session: AsyncSession, account_id: str, checkout_id: str) -> CheckoutSession:
    """The merchant's completion of a session that needs no payment (a 100 % discount, a free plan)."""
    checkout = await lock_session(session, account_id, checkout_id)
    require_changeable(checkout)
    if checkout.amount_total_atom > 0:
        raise BusinessRuleViolation(
            f"Checkout session {checkout_id!r} has {checkout.amount_total_atom} to pay in "
            f"{checkout.currency.upper()}; it is completed by the customer's payment.",
            code="payment_required",
        )
    await mark_completed(session, checkout, tier=PRIMARY_TIER, now=checkout.current_time())
    return checkout


async def mark_completed(session: AsyncSession, checkout: CheckoutSession, *, tier: int, now: datetime) -> None:
    """Record success at ``now`` (the buyer's time) on a session locked by the caller: the discount's use is counted
    now (a code used up in the meantime refuses, and the caller's transaction rolls back), then
    ``checkout_session.completed``."""
    if checkout.discount is not None:
        await _redeem_discount(session, checkout, tier)
    before = snapshot(checkout)
    checkout.status = SUCCESS
    checkout.completed_at = now
    checkout.succeeded_tier = tier
    await session.flush()
    await record_event(
        session, account_id=checkout.account_id, type="checkout_session.completed", obj=checkout, before=before
    )


async def _redeem_discount(session: AsyncSession, checkout: CheckoutSession, tier: int) -> None:
    coupon_id = None if checkout.promotion_code else checkout.coupon_id
    items = tier_items(checkout, tier)
    try:
        applied = await redemptions.resolve_discount(
            session,
            checkout.account_id,
            coupon_id=coupon_id,
            promotion_code=checkout.promotion_code,
            customer_id=checkout.customer_id,
            currency=checkout.currency,
            lines=[maths.Line(item.amount_subtotal_atom, item.product_id) for item in items],
        )
        await redemptions.redeem(session, checkout.account_id, applied, customer_id=checkout.customer_id)
    except CheckstandError as refusal:
        raise BusinessRuleViolation(
            f"The session's discount can no longer be used: {refusal.detail}", code=refusal.code
        ) from refusal


async def expire_session(session: AsyncSession, account_id: str, checkout_id: str) -> CheckoutSession:
    """The merchant closes an open session early; the customer can no longer pay it."""
    checkout = await lock_session(session, account_id, checkout_id)
    require_open(checkout)
    await _mark_expired(session, checkout, checkout.current_time())
    return checkout


async def _mark_expired(session: AsyncSession, checkout: CheckoutSession, now: datetime) -> None:
    before = snapshot(checkout)
    checkout.status = EXPIRED
    checkout.expired_at = now
    await session.flush()
    await record_event(
        session, account_id=checkout.account_id, type="checkout_session.expired", obj=checkout, before=before
    )


def _open_with_customer_clock() -> Select[CheckoutSession]:
    """Open sessions, each beside its customer and that customer's clock (outer joins: most sessions have
    neither), locked for the expiry with ``SKIP LOCKED``."""
    return (
        select(CheckoutSession)
        .outerjoin(Customer, Customer.id == CheckoutSession.customer_id)
        .outerjoin(TestClock, TestClock.id == Customer.test_clock_id)
        .where(CheckoutSession.status == OPEN)
        .order_by(CheckoutSession.expires_at)
        .limit(EXPIRY_BATCH)
        .with_for_update(skip_locked=True, of=CheckoutSession)
        .execution_options(populate_existing=True)
    )


async def expire_open_sessions(session: AsyncSession) -> int:
    """Worker job: record the expiry of open sessions past ``expires_at`` on their customer's time, each once,
    whatever the number of workers (rows are claimed with ``SKIP LOCKED``; the status check inside the lock does the
    rest). Sessions at the real time are found through the ``(status, expires_at)`` index; those on a clock at rest
    through their clock's frozen time. A clock being advanced is left to its own job, which keeps time order."""
    real_now = clock.now()
    at_real_time = (
        await session.scalars(
            _open_with_customer_clock().where(CheckoutSession.expires_at <= real_now, Customer.test_clock_id.is_(None))
        )
    ).all()
    on_clocks_at_rest = (
        await session.scalars(
            _open_with_customer_clock().where(
                TestClock.status == READY, CheckoutSession.expires_at <= TestClock.frozen_time
            )
        )
    ).all()
    for checkout in at_real_time:
        await _mark_expired(session, checkout, real_now)
    for checkout in on_clocks_at_rest:
        await _mark_expired(session, checkout, checkout.current_time())
    return len(at_real_time) + len(on_clocks_at_rest)


async def next_expiry_on_clock(session: AsyncSession, test_clock: TestClock) -> tuple[datetime, str, str] | None:
    """The earliest expiry of an open session of the clock's customers that its frozen time has passed, as
    ``(expires_at, account_id, checkout_id)``: due work for the clock's catching up."""
    found = (
        await session.execute(
            select(CheckoutSession.expires_at, CheckoutSession.account_id, CheckoutSession.id)
            .where(
                CheckoutSession.account_id == test_clock.account_id,
                CheckoutSession.customer_id.in_(test_clocks.on_clock(test_clock.id).scalar_subquery()),
                CheckoutSession.status == OPEN,
                CheckoutSession.expires_at <= test_clock.frozen_time,
            )
            .order_by(CheckoutSession.expires_at)
            .limit(1)
        )
    ).first()
    if found is None:
        return None
    expires_at, account_id, checkout_id = found
    return expires_at, account_id, checkout_id


async def expire_due_session(session: AsyncSession, account_id: str, checkout_id: str, now: datetime) -> bool:
    """Record the session's expiry as of ``now`` (a clock's due moment) if it is still open and due then; says
    whether it did. The row is locked and re-read, so a racing payment or a second worker finds it settled."""
    checkout = await lock_session(session, account_id, checkout_id)
    if checkout.status != OPEN or checkout.expires_at > now:
        return False
    await _mark_expired(session, checkout, now)
    return True
