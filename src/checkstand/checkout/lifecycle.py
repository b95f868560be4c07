"""How an open checkout session ends: completed (paid, or free) or expired (by the merchant or the clock)."""

from __future__ import annotations

from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout.models import EXPIRED, OPEN, PRIMARY_TIER, SUCCESS, CheckoutSession
from checkstand.checkout.service import lock_session, require_changeable, require_open, tier_items
from checkstand.core import clock
from checkstand.core.errors import BusinessRuleViolation, CheckstandError
from checkstand.discounts import maths, redemptions
from checkstand.events.service import record_event, snapshot

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
    await mark_completed(session, checkout, tier=PRIMARY_TIER)
    return checkout


async def mark_completed(session: AsyncSession, checkout: CheckoutSession, *, tier: int) -> None:
    """Record success on a session locked by the caller: the discount's use is counted now (a code used up in the
    meantime refuses, and the caller's transaction rolls back), then ``checkout_session.completed``."""
    if checkout.discount is not None:
        await _redeem_discount(session, checkout, tier)
    before = snapshot(checkout)
    checkout.status = SUCCESS
    checkout.completed_at = clock.now()
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
    await _mark_expired(session, checkout)
    return checkout


async def _mark_expired(session: AsyncSession, checkout: CheckoutSession) -> None:
    before = snapshot(checkout)
    checkout.status = EXPIRED
    checkout.expired_at = clock.now()
    await session.flush()
    await record_event(
        session, account_id=checkout.account_id, type="checkout_session.expired", obj=checkout, before=before
    )


async def expire_open_sessions(session: AsyncSession) -> int:
    """Worker job: record the expiry of open sessions past ``expires_at``, each once, whatever the number of
    workers (rows are claimed with ``SKIP LOCKED``; the status check inside the lock does the rest)."""
    due = (
        await session.scalars(
            select(CheckoutSession)
            .where(CheckoutSession.status == OPEN, CheckoutSession.expires_at <= clock.now())
            .order_by(CheckoutSession.expires_at)
            .limit(EXPIRY_BATCH)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
    ).all()
    for checkout in due:
        await _mark_expired(session, checkout)
    return len(due)
