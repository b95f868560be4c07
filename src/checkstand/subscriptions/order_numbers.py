"""Order numbers: each of an account's orders (Paid's orders: its subscriptions, and the checkouts that sold only
one-time prices) is numbered from 1 in the order they are made, in one sequence for both kinds.

A number is given under the account row's lock, as an invoice number is, so two orders made side by side never take
the same one; each table's unique ``(account_id, order_number)`` backs that up.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts.models import Account
from checkstand.checkout.models import CheckoutSession
from checkstand.subscriptions.models import Subscription


async def next_order_number(session: AsyncSession, account_id: str) -> int:
    """The number the account's next order takes; the account stays locked until the caller's transaction ends.
    FOR NO KEY UPDATE on PostgreSQL, as for invoice numbers: it serialises numbering but not the inserts of rows
    that name the account."""
    await session.execute(select(Account.id).where(Account.id == account_id).with_for_update(key_share=True))
    last_subscription = await session.scalar(
        select(func.max(Subscription.order_number)).where(Subscription.account_id == account_id)
    )
    last_purchase = await session.scalar(
        select(func.max(CheckoutSession.order_number)).where(CheckoutSession.account_id == account_id)
    )
    return max(last_subscription or 0, last_purchase or 0) + 1


async def number_purchase(session: AsyncSession, checkout: CheckoutSession) -> None:
    """A completed checkout that started no subscription is an order of its own: it takes the next number."""
    if checkout.order_number is None:
        checkout.order_number = await next_order_number(session, checkout.account_id)
