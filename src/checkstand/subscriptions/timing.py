"""What "now" is for one subscription: its customer's test clock when it has one, the process clock otherwise.

Every rule about a subscription's dates (a trial still running, a pause's end, the next action's moment) reads this,
so a merchant advancing a test clock sees the subscription live by that clock and nothing else.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.subscriptions.models import Subscription
from checkstand.test_clocks.service import now_for_customer


async def now_for(session: AsyncSession, subscription: Subscription) -> datetime:
    return await now_for_customer(session, subscription.customer_id)
