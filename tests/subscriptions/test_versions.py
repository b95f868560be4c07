"""A subscription's ``version`` (Paid's order version) counts the changes of its plan, whichever path makes them:
items requantified, swapped, added or removed, a change scheduled for the period's end or dropped; a change of
anything else (its description, its metadata) leaves it. On both backends."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.subscriptions import changes
from checkstand.subscriptions import service as subscriptions
from checkstand.subscriptions.models import Subscription
from checkstand.subscriptions.plan_changes import current_plan, schedule_change
from checkstand.subscriptions.proration import PlanLine
from tests.shop import Shop
from tests.subscriptions.factory import new_subscription, recurring_price


async def version(session: AsyncSession, shop: Shop, subscription_id: str) -> int:
    await session.commit()
    session.expire_all()
    held: Subscription = await subscriptions.get_subscription(session, shop.account_id, subscription_id)
    return held.version


async def test_every_change_of_the_plan_and_only_that_raises_the_version(session: AsyncSession, shop: Shop) -> None:
    seats = await recurring_price(session, shop.account_id, shop.tshirt_product, interval="year", amount=300)
    subscription = await new_subscription(session, shop.account_id, [shop.yearly])
    sid = subscription.id
    [item] = subscription.items
    assert await version(session, shop, sid) == 1

    await changes.update_subscription(session, shop.account_id, sid, {"description": "Acme", "metadata": {"a": "1"}})
    assert await version(session, shop, sid) == 1

    await changes.update_items(session, shop.account_id, sid, [changes.ItemChange(id=item.id, quantity=3)])
    assert await version(session, shop, sid) == 2

    await changes.update_items(session, shop.account_id, sid, [changes.ItemChange(price_id=seats, quantity=2)])
    assert await version(session, shop, sid) == 3

    held = await subscriptions.locked_subscription(session, shop.account_id, sid)
    plan = current_plan(held)
    await schedule_change(session, held, [PlanLine(**{**plan[0].as_dict(), "quantity": 1}), plan[1]])
    assert await version(session, shop, sid) == 4
    held = await subscriptions.locked_subscription(session, shop.account_id, sid)
    await schedule_change(session, held, current_plan(held))  # the plan held: the scheduled change is dropped
    assert await version(session, shop, sid) == 5

    held = await subscriptions.get_subscription(session, shop.account_id, sid)
    removed = held.items[1].id
    await changes.update_items(session, shop.account_id, sid, [changes.ItemChange(id=removed, deleted=True)])
    assert await version(session, shop, sid) == 6
