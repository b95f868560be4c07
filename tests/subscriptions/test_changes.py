"""A live subscription changed by its merchant: fields, items, pause and resume, the next lifecycle action, and
subscriptions created through the API, at the service level on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core.clock import FrozenClock
from checkstand.core.errors import Conflict, InvalidFields, NotFound
from checkstand.core.ids import new_id
from checkstand.events.models import Event
from checkstand.invoices import renewal
from checkstand.invoices import service as invoices
from checkstand.invoices.models import PAST_DUE, SUBSCRIPTION_CYCLE, Invoice
from checkstand.invoices.next_action import next_action
from checkstand.payment_methods.models import SavedPaymentMethod
from checkstand.processors import connections
from checkstand.settings import Settings
from checkstand.subscriptions import changes, creation, pausing
from checkstand.subscriptions import service as subscriptions
from checkstand.subscriptions.models import Subscription
from checkstand.subscriptions.periods import add_interval
from tests.shop import Shop
from tests.subscriptions.factory import new_subscription, recurring_price

SETTINGS = Settings.model_construct(dunning_subscription_on_failure="cancel", dunning_invoice_on_failure="leave_open")


async def types_of_events(session: AsyncSession, subscription_id: str) -> list[str]:
    rows = await session.scalars(select(Event).where(Event.aggregate_id == subscription_id).order_by(Event.seq))
    return [event.type for event in rows]


async def saved_method(session: AsyncSession, account_id: str, customer_id: str, *, active: bool = True) -> str:
    """A saved card as the payment methods module leaves one after a processor saved it."""
    processor = await connections.connect_simulator(session, account_id, name=f"Sim {new_id('x')}")
    method = SavedPaymentMethod(
        id=new_id("pm"),
        account_id=account_id,
        customer_id=customer_id,
        processor_id=processor.id,
        processor_reference=new_id("simpm"),
        brand="visa",
        last4="4242",
        exp_month=12,
        exp_year=2099,
        is_active=active,
        method_metadata={},
    )
    session.add(method)
    await session.commit()
    return method.id


async def reread(session: AsyncSession, account_id: str, subscription_id: str) -> Subscription:
    session.expire_all()
    return await subscriptions.get_subscription(session, account_id, subscription_id)


# --- Fields ---------------------------------------------------------------------------------------------------------


async def test_update_description_metadata_and_payment_method(session: AsyncSession, shop: Shop) -> None:
    subscription = await new_subscription(session, shop.account_id, [shop.yearly])
    sid = subscription.id
    method_id = await saved_method(session, shop.account_id, subscription.customer_id)

    _, fields = await changes.update_subscription(
        session,
        shop.account_id,
        sid,
        {
            "description": "Team plan",
            "metadata": {"crm": "42"},
            "default_payment_method_id": method_id,
            "custom_fields": {"seats": 5},
        },
    )
    await session.commit()

    assert fields == ["custom_fields", "default_payment_method_id", "description", "metadata"]
    assert not changes.touches_lifecycle(fields)
    again = await reread(session, shop.account_id, sid)
    assert (again.description, again.subscription_metadata, again.custom_fields) == (
        "Team plan",
        {"crm": "42"},
        {"seats": 5},
    )
    assert again.default_payment_method_id == method_id
    event = await session.scalar(select(Event).where(Event.type == "subscription.updated"))
    assert event is not None
    assert event.data["description"] == "Team plan"
    assert event.previous_data is not None
    assert event.previous_data["description"] is None

    _, unchanged = await changes.update_subscription(session, shop.account_id, sid, {"description": "Team plan"})
    assert unchanged == []


async def test_bad_fields_are_all_named_and_change_nothing(session: AsyncSession, shop: Shop) -> None:
    subscription = await new_subscription(session, shop.account_id, [shop.yearly])
    sid = subscription.id
    detached = await saved_method(session, shop.account_id, subscription.customer_id, active=False)
    other_customer = await new_subscription(session, shop.account_id, [shop.yearly], email="bob@example.com")
    foreign = await saved_method(session, shop.account_id, other_customer.customer_id)

    with pytest.raises(InvalidFields) as refused:
        await changes.update_subscription(
            session,
            shop.account_id,
            sid,
            {
                "description": "never stored",
                "coupon_id": "coupon_x",
                "trial_end": datetime(2099, 1, 1, tzinfo=UTC),
                "default_payment_method_id": detached,
                "custom_fields": {"nope": 1},
            },
        )
    paths = {problem.path for problem in refused.value.problems}
    assert paths == {("coupon_id",), ("trial_end",), ("default_payment_method_id",), ("custom_fields", "nope")}
    await session.rollback()
    with pytest.raises(InvalidFields) as other:
        await changes.update_subscription(session, shop.account_id, sid, {"default_payment_method_id": foreign})
    assert [p.path for p in other.value.problems] == [("default_payment_method_id",)]
    await session.rollback()
    again = await reread(session, shop.account_id, sid)
    assert again.description is None
    assert await types_of_events(session, sid) == ["subscription.created"]


async def test_a_trial_moves_only_ahead_and_moves_the_first_period(
    session: AsyncSession, shop: Shop, frozen_clock: FrozenClock
) -> None:
    subscription = await new_subscription(session, shop.account_id, [shop.monthly])
    sid = subscription.id
    assert subscription.status == "trialing"
    assert subscription.trial_start is not None
    with pytest.raises(InvalidFields) as past:
        await changes.update_subscription(
            session, shop.account_id, sid, {"trial_end": frozen_clock.now() - timedelta(hours=1)}
        )
    assert [p.path for p in past.value.problems] == [("trial_end",)]
    await session.rollback()

    _, fields = await changes.update_subscription(session, shop.account_id, sid, {"trial_period_days": 30})
    await session.commit()
    again = await reread(session, shop.account_id, sid)
    assert again.trial_end == again.trial_start + timedelta(days=30)
    assert again.current_period_start == again.trial_end
    assert again.current_period_end == add_interval(again.trial_end, "month", 1)
    assert "trial_end" in fields
    assert changes.touches_lifecycle(fields)


# --- Canceled and foreign -------------------------------------------------------------------------------------------


async def test_a_canceled_subscription_refuses_every_change(session: AsyncSession, shop: Shop) -> None:
    subscription = await new_subscription(session, shop.account_id, [shop.yearly])
    sid = subscription.id
    await subscriptions.cancel(session, shop.account_id, sid)
    await session.commit()
    attempts = [
        changes.update_subscription(session, shop.account_id, sid, {"description": "x"}),
        changes.update_items(session, shop.account_id, sid, [changes.ItemChange(price_id=shop.yearly)]),
        pausing.pause(session, shop.account_id, sid),
        pausing.resume(session, shop.account_id, sid),
    ]
    for attempt in attempts:
        with pytest.raises(Conflict) as conflict:
            await attempt
        assert conflict.value.code == "subscription_canceled"
        await session.rollback()


async def test_another_accounts_subscription_is_not_found(session: AsyncSession, shop: Shop) -> None:
    from checkstand.accounts import service as accounts

    subscription = await new_subscription(session, shop.account_id, [shop.yearly])
    sid = subscription.id
    other = await accounts.create_account(session, name="Other")
    await session.commit()
    with pytest.raises(NotFound):
        await changes.update_subscription(session, other.id, sid, {"description": "mine now"})
    with pytest.raises(NotFound):
        await pausing.pause(session, other.id, sid)


# --- Pause and resume -----------------------------------------------------------------------------------------------


async def test_pause_then_resume(session: AsyncSession, shop: Shop, frozen_clock: FrozenClock) -> None:
    subscription = await new_subscription(session, shop.account_id, [shop.yearly])
    sid = subscription.id

    paused = await pausing.pause(session, shop.account_id, sid)
    await session.commit()
    assert (paused.status, paused.paused_at, paused.resumes_at) == ("paused", frozen_clock.now(), None)
    with pytest.raises(Conflict) as twice:
        await pausing.pause(session, shop.account_id, sid)
    assert twice.value.code == "subscription_paused"
    await session.rollback()

    frozen_clock.advance(timedelta(days=2))
    resumed = await pausing.resume(session, shop.account_id, sid)
    await session.commit()
    assert (resumed.status, resumed.paused_at, resumed.resumes_at) == ("active", None, None)
    with pytest.raises(Conflict) as not_paused:
        await pausing.resume(session, shop.account_id, sid)
    assert not_paused.value.code == "subscription_not_paused"
    await session.rollback()
    events = await types_of_events(session, sid)
    assert events == ["subscription.created", "subscription.paused", "subscription.resumed"]


async def test_a_paused_trial_resumes_trialing_and_a_resume_date_must_be_ahead(
    session: AsyncSession, shop: Shop, frozen_clock: FrozenClock
) -> None:
    subscription = await new_subscription(session, shop.account_id, [shop.monthly])
    sid = subscription.id
    with pytest.raises(InvalidFields):
        await pausing.pause(session, shop.account_id, sid, resumes_at=frozen_clock.now())
    await session.rollback()
    resumes_at = frozen_clock.now() + timedelta(days=3)
    paused = await pausing.pause(session, shop.account_id, sid, resumes_at=resumes_at)
    assert paused.resumes_at == resumes_at
    resumed = await pausing.resume(session, shop.account_id, sid)
    assert resumed.status == "trialing"


# --- Items ----------------------------------------------------------------------------------------------------------


async def test_items_change_from_the_next_invoice(session: AsyncSession, shop: Shop) -> None:
    plan = shop.tshirt_product
    basic = await recurring_price(session, shop.account_id, plan, interval="year", amount=1000)
    seats = await recurring_price(session, shop.account_id, plan, interval="year", amount=300)
    subscription = await new_subscription(session, shop.account_id, [shop.yearly, basic])
    sid = subscription.id
    yearly_item, basic_item = subscription.items
    before = await renewal.preview_renewal(session, subscription)
    assert before.subtotal_atom == 2 * 9000 + 2 * 1000

    await changes.update_items(
        session,
        shop.account_id,
        sid,
        [
            changes.ItemChange(id=yearly_item.id, quantity=1),
            changes.ItemChange(id=basic_item.id, deleted=True),
            changes.ItemChange(price_id=seats, quantity=5),
        ],
    )
    await session.commit()

    again = await reread(session, shop.account_id, sid)
    assert [(item.price_id, item.quantity, item.unit_amount_atom) for item in again.items] == [
        (shop.yearly, 1, 9000),
        (seats, 5, 300),
    ]
    preview = await renewal.preview_renewal(session, again)
    assert [(line.price_id, line.quantity, line.amount_atom) for line in preview.lines] == [
        (shop.yearly, 1, 9000),
        (seats, 5, 1500),
    ]
    assert preview.subtotal_atom == 10_500
    assert await session.scalar(select(func.count()).select_from(Invoice)) == 0
    assert (await types_of_events(session, sid))[-1] == "subscription.updated"


async def test_bad_item_changes_are_refused_and_change_nothing(session: AsyncSession, shop: Shop) -> None:
    subscription = await new_subscription(session, shop.account_id, [shop.yearly])
    sid = subscription.id
    [item] = subscription.items
    item_id = item.id
    with pytest.raises(InvalidFields) as quoted:
        await changes.update_items(
            session,
            shop.account_id,
            sid,
            [changes.ItemChange(id=item_id, quantity=3)],
            proration_date=subscription.current_period_start,
        )
    [problem] = quoted.value.problems
    assert problem.path == ("proration_date",)

    with pytest.raises(InvalidFields) as refused:
        await changes.update_items(
            session,
            shop.account_id,
            sid,
            [
                changes.ItemChange(price_id=shop.tshirt),
                changes.ItemChange(price_id=shop.monthly),
                changes.ItemChange(price_id="price_nope"),
                changes.ItemChange(id="si_nope", quantity=2),
                changes.ItemChange(id=item_id, quantity=3),
            ],
        )
    assert [p.path for p in refused.value.problems] == [
        ("items", 0, "price_id"),
        ("items", 1, "price_id"),
        ("items", 2, "price_id"),
        ("items", 3, "id"),
    ]
    await session.rollback()
    with pytest.raises(InvalidFields) as emptied:
        await changes.update_items(session, shop.account_id, sid, [changes.ItemChange(id=item_id, deleted=True)])
    assert [p.path for p in emptied.value.problems] == [("items",)]
    await session.rollback()
    again = await reread(session, shop.account_id, sid)
    assert [(i.price_id, i.quantity) for i in again.items] == [(shop.yearly, 2)]
    assert await types_of_events(session, sid) == ["subscription.created"]


# --- The next action ------------------------------------------------------------------------------------------------


async def test_next_action_for_each_state(session: AsyncSession, shop: Shop, frozen_clock: FrozenClock) -> None:
    active = await new_subscription(session, shop.account_id, [shop.yearly])
    action = await next_action(session, shop.account_id, active.id, SETTINGS)
    assert (action.action, action.at) == ("schedule_billing", active.current_period_end)

    await subscriptions.set_cancel_at_period_end(session, shop.account_id, active.id, True)
    action = await next_action(session, shop.account_id, active.id, SETTINGS)
    assert (action.action, action.at, action.reason) == ("cancel", active.current_period_end, "cancel_at_period_end")

    trialing = await new_subscription(session, shop.account_id, [shop.monthly], email="t@example.com")
    assert trialing.trial_end is not None
    action = await next_action(session, shop.account_id, trialing.id, SETTINGS)
    assert (action.action, action.at) == ("notify_trial_ending", trialing.trial_end - timedelta(days=3))
    trialing.trial_ending_notified_at = frozen_clock.now()
    await session.commit()
    action = await next_action(session, shop.account_id, trialing.id, SETTINGS)
    assert (action.action, action.at) == ("schedule_activation", trialing.trial_end)

    await pausing.pause(session, shop.account_id, trialing.id)
    assert (await next_action(session, shop.account_id, trialing.id, SETTINGS)).action == "stop"

    await subscriptions.cancel(session, shop.account_id, active.id)
    action = await next_action(session, shop.account_id, active.id, SETTINGS)
    assert (action.action, action.reason) == ("stop", "the subscription is canceled")


async def test_next_action_of_a_past_due_subscription_follows_its_overdue_invoice(
    session: AsyncSession, shop: Shop, frozen_clock: FrozenClock
) -> None:
    subscription = await new_subscription(session, shop.account_id, [shop.yearly])
    sid = subscription.id
    retry_at = frozen_clock.now() + timedelta(days=3)
    invoice = await invoices.create_invoice(
        session,
        shop.account_id,
        customer_id=subscription.customer_id,
        currency="usd",
        lines=renewal.renewal_lines(subscription, subscription.current_period_start, subscription.current_period_end),
        billing_reason=SUBSCRIPTION_CYCLE,
        issued_at=frozen_clock.now(),
        subscription_id=sid,
        period_start=subscription.current_period_end,
    )
    invoice.status, invoice.next_attempt_at = PAST_DUE, retry_at
    subscription.status = "past_due"
    await session.commit()

    action = await next_action(session, shop.account_id, sid, SETTINGS)
    assert (action.action, action.at, action.invoice_id) == ("process_past_due", retry_at, invoice.id)

    invoice.next_attempt_at = None
    await session.commit()
    action = await next_action(session, shop.account_id, sid, SETTINGS)
    assert (action.action, action.invoice_id, action.dunning_behavior) == (
        "apply_dunning_end_behavior",
        invoice.id,
        "cancel_and_open",
    )


# --- Created through the API ----------------------------------------------------------------------------------------


async def test_create_with_a_trial_starts_trialing_and_bills_nothing(
    session: AsyncSession, shop: Shop, frozen_clock: FrozenClock
) -> None:
    customer_id = (await new_subscription(session, shop.account_id, [shop.yearly])).customer_id
    method_id = await saved_method(session, shop.account_id, customer_id)
    now = frozen_clock.now()

    subscription = await creation.create_subscription(
        session,
        shop.account_id,
        creation.NewSubscription(
            customer_id=customer_id,
            items=[(shop.yearly, 1)],
            period_start=now,
            trial_period_days=7,
            description="Trial",
            metadata={"source": "api"},
        ),
    )
    await session.commit()

    assert subscription.status == "trialing"
    assert (subscription.trial_start, subscription.trial_end) == (now, now + timedelta(days=7))
    assert subscription.current_period_start == now + timedelta(days=7)
    assert subscription.default_payment_method_id == method_id
    assert (subscription.description, subscription.subscription_metadata) == ("Trial", {"source": "api"})
    assert await session.scalar(select(func.count()).select_from(Invoice)) == 0
    assert await types_of_events(session, subscription.id) == ["subscription.created"]


async def test_create_refuses_bad_input_and_stores_nothing(
    session: AsyncSession, shop: Shop, frozen_clock: FrozenClock
) -> None:
    customer_id = (await new_subscription(session, shop.account_id, [shop.yearly])).customer_id
    count_before = await session.scalar(select(func.count()).select_from(Subscription))
    with pytest.raises(InvalidFields) as no_method:
        await creation.create_subscription(
            session,
            shop.account_id,
            creation.NewSubscription(
                customer_id=customer_id, items=[(shop.yearly, 1)], period_start=frozen_clock.now()
            ),
        )
    assert [p.path for p in no_method.value.problems] == [("default_payment_method_id",)]
    await session.rollback()
    await saved_method(session, shop.account_id, customer_id)
    with pytest.raises(InvalidFields) as refused:
        await creation.create_subscription(
            session,
            shop.account_id,
            creation.NewSubscription(
                customer_id=customer_id,
                items=[(shop.yearly, 1), (shop.tshirt, 1), (shop.monthly, 1)],
                period_start=frozen_clock.now(),
                coupon_id="coupon_x",
            ),
        )
    assert [p.path for p in refused.value.problems] == [
        ("coupon_id",),
        ("items", 1, "price_id"),
        ("items", 2, "price_id"),
    ]
    await session.rollback()
    with pytest.raises(InvalidFields) as future:
        await creation.create_subscription(
            session,
            shop.account_id,
            creation.NewSubscription(
                customer_id=customer_id, items=[(shop.yearly, 1)], period_start=frozen_clock.now() + timedelta(days=2)
            ),
        )
    assert [p.path for p in future.value.problems] == [("period_start",)]
    await session.rollback()
    assert await session.scalar(select(func.count()).select_from(Subscription)) == count_before
