"""What the dashboard reads about a coupon's or a promotion code's uses beyond the redemptions themselves: the
checkout sessions completed with it, and the subscription each one started.

A redemption row doesn't name the session it was counted for, so the sessions are read beside the redemptions:
only the sessions of customers who redeemed the coupon, which keeps the query on the customer index of checkout
sessions. Queries only, each filtered on the account."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout.models import SUCCESS, CheckoutSession
from checkstand.discounts.models import Redemption
from checkstand.subscriptions.models import Subscription

# The newest this many sessions: the page stays readable; the API's session list filters by coupon for the rest.
MAX_SESSIONS: Final = 50


@dataclass(frozen=True)
class SessionUse:
    checkout: CheckoutSession
    subscription_id: str | None


async def sessions_using(
    session: AsyncSession, account_id: str, coupon_id: str, *, promotion_code_id: str | None = None
) -> Sequence[SessionUse]:
    """Completed sessions discounted by the coupon (through ``promotion_code_id`` when given), newest first."""
    redeemers = select(Redemption.customer_id).where(
        Redemption.account_id == account_id, Redemption.coupon_id == coupon_id, Redemption.customer_id.is_not(None)
    )
    query = (
        select(CheckoutSession, Subscription.id)
        .outerjoin(
            Subscription,
            and_(Subscription.checkout_session_id == CheckoutSession.id, Subscription.account_id == account_id),
        )
        .where(
            CheckoutSession.account_id == account_id,
            CheckoutSession.customer_id.in_(redeemers),
            CheckoutSession.coupon_id == coupon_id,
            CheckoutSession.status == SUCCESS,
        )
        .order_by(CheckoutSession.completed_at.desc(), CheckoutSession.id.desc())
        .limit(MAX_SESSIONS)
    )
    if promotion_code_id is not None:
        query = query.where(CheckoutSession.promotion_code_id == promotion_code_id)
    rows = await session.execute(query)
    return [SessionUse(checkout, subscription_id) for checkout, subscription_id in rows]
