"""Issue 12's billing cycle end to end, as a merchant sees it: through the ``payment-kit`` SDK against a real server
and its worker, on both backends. A customer on a test clock pays a monthly plan through the public checkout API,
then the clock is advanced (the advance answers once the server's worker has billed the clock's customers up to the
new time) and everything is read back through the SDK: the invoices, the subscription's period, its events.

The catalog and the simulator connection are written into the server's database through the services (the SDK
can't give a price a trial); the clock is driven over HTTP (the SDK has no client for clocks); the rest is the SDK.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.compat.billing import AMOUNT, START, Merchant, Subscribed, card, merchant
from tests.invoices.factory import SAVES_THEN_DECLINES
from tests.payments.flow import GOOD_CARD
from tests.support import Server


def subscribe(shop: Merchant, *, number: str = GOOD_CARD, trial_days: int = 0) -> Subscribed:
    shop.simulator()
    return shop.subscribe(card(number), trial_days=trial_days)


def test_a_year_of_monthly_renewals_across_month_ends_and_the_leap_day(server: Server) -> None:
    shop = merchant(server)
    made = subscribe(shop)
    first = shop.client.subscriptions.get_subscription(shop.account_id, made.subscription_id)
    assert (first.state, first.current_period_start, first.current_period_end) == (
        "active",
        START,
        datetime(2028, 2, 29, 10, 0, tzinfo=UTC),
    )
    assert first.payment_method is not None

    shop.advance(made.clock_id, START.replace(year=2029))

    checkout_invoice, *renewals = shop.invoices(made.subscription_id)
    assert (checkout_invoice.billing_reason, checkout_invoice.status) == ("subscription_create", "paid")
    assert [invoice.billing_reason for invoice in renewals] == ["subscription_cycle"] * 12
    assert [invoice.status for invoice in renewals] == ["paid"] * 12
    assert [invoice.paid_amount_atom for invoice in renewals] == [AMOUNT] * 12
    ends = [(end.year, end.month, end.day) for end in (invoice.period_end for invoice in renewals) if end]
    assert ends == [
        (2028, 3, 31),
        (2028, 4, 30),
        (2028, 5, 31),
        (2028, 6, 30),
        (2028, 7, 31),
        (2028, 8, 31),
        (2028, 9, 30),
        (2028, 10, 31),
        (2028, 11, 30),
        (2028, 12, 31),
        (2029, 1, 31),
        (2029, 2, 28),
    ]
    # Each period starts where the previous ended: the leap day first, then every end of month.
    starts = [invoice.period_start for invoice in renewals]
    assert starts[0] == datetime(2028, 2, 29, 10, 0, tzinfo=UTC)
    assert starts[1:] == [invoice.period_end for invoice in renewals[:-1]]
    assert shop.charged() == [AMOUNT] * 13

    now = shop.client.subscriptions.get_subscription(shop.account_id, made.subscription_id)
    assert (now.state, now.current_period_start, now.current_period_end) == (
        "active",
        datetime(2029, 1, 31, 10, 0, tzinfo=UTC),
        datetime(2029, 2, 28, 10, 0, tzinfo=UTC),
    )
    assert shop.event_types(made.subscription_id).count("subscription.renewed") == 12


def test_a_trial_charges_nothing_warns_before_its_end_and_converts_at_it(server: Server) -> None:
    shop = merchant(server)
    made = subscribe(shop, trial_days=14)
    trial_end = START + timedelta(days=14)
    trialing = shop.client.subscriptions.get_subscription(shop.account_id, made.subscription_id)
    assert (trialing.state, trialing.trial_end, trialing.current_period_start) == ("trialing", trial_end, trial_end)
    assert shop.charged() == []

    shop.advance(made.clock_id, trial_end - timedelta(days=4))
    assert "subscription.trial_will_end" not in shop.event_types(made.subscription_id)
    shop.advance(made.clock_id, trial_end - timedelta(days=2))  # three days before the end, as Stripe's
    assert "subscription.trial_will_end" in shop.event_types(made.subscription_id)
    assert shop.client.subscriptions.get_subscription(shop.account_id, made.subscription_id).state == "trialing"
    assert shop.charged() == []

    shop.advance(made.clock_id, trial_end + timedelta(hours=1))
    converted = shop.client.subscriptions.get_subscription(shop.account_id, made.subscription_id)
    assert (converted.state, converted.current_period_start, converted.current_period_end) == (
        "active",
        trial_end,
        datetime(2028, 3, 14, 10, 0, tzinfo=UTC),
    )
    assert shop.charged() == [AMOUNT]
    [*_, invoice] = shop.invoices(made.subscription_id)
    assert (invoice.status, invoice.paid_amount_atom, invoice.period_start) == ("paid", AMOUNT, trial_end)
    types = shop.event_types(made.subscription_id)
    assert types.index("subscription.trial_will_end") < types.index("subscription.renewed")


def test_a_declining_renewal_goes_past_due_is_retried_on_schedule_and_ends_canceled(server: Server) -> None:
    shop = merchant(server)
    made = subscribe(shop, number=SAVES_THEN_DECLINES)  # pays and saves at checkout; every later charge declines
    due = datetime(2028, 2, 29, 10, 0, tzinfo=UTC)
    assert shop.charged() == [AMOUNT]

    shop.advance(made.clock_id, due + timedelta(days=1))
    [_, overdue] = shop.invoices(made.subscription_id)
    assert overdue.status == "past_due"
    assert shop.client.subscriptions.get_subscription(shop.account_id, made.subscription_id).state == "past_due"
    assert shop.event_types(overdue.id).count("invoice.payment_failed") == 1

    # The default schedule: retried 3, 5 and 7 days after the first failure, and nothing in between.
    for day, failures in ((2, 1), (3, 2), (4, 2), (5, 3), (6, 3)):
        shop.advance(made.clock_id, due + timedelta(days=day, hours=1))
        assert shop.event_types(overdue.id).count("invoice.payment_failed") == failures, day
    assert shop.client.subscriptions.get_subscription(shop.account_id, made.subscription_id).state == "past_due"

    shop.advance(made.clock_id, due + timedelta(days=7, hours=1))
    ended = shop.client.subscriptions.get_subscription(shop.account_id, made.subscription_id)
    assert ended.state == "canceled"
    [_, given_up] = shop.invoices(made.subscription_id)
    assert (given_up.id, given_up.status) == (overdue.id, "uncollectible")
    assert shop.event_types(overdue.id).count("invoice.payment_failed") == 4
    assert shop.charged() == [AMOUNT]  # only the checkout's charge ever went through
    types = shop.event_types(made.subscription_id)
    assert types.index("subscription.past_due") < types.index("subscription.canceled")


def test_pause_then_resume_across_a_renewal_date(server: Server) -> None:
    shop = merchant(server)
    made = subscribe(shop)
    subs = shop.client.subscriptions
    assert subs.pause_subscription(shop.account_id, made.subscription_id).state == "paused"

    # Paused across 29 February: the period passes uncharged, its invoice voided (as Stripe's pause_collection
    # with behavior "void"), and the subscription stays paused, now in the next period.
    shop.advance(made.clock_id, datetime(2028, 3, 10, tzinfo=UTC))
    paused = subs.get_subscription(shop.account_id, made.subscription_id)
    assert (paused.state, paused.current_period_start) == ("paused", datetime(2028, 2, 29, 10, 0, tzinfo=UTC))
    [_, voided] = shop.invoices(made.subscription_id)
    assert (voided.status, voided.period_start) == ("void", datetime(2028, 2, 29, 10, 0, tzinfo=UTC))
    assert shop.charged() == [AMOUNT]

    assert subs.resume_subscription(shop.account_id, made.subscription_id).state == "active"
    shop.advance(made.clock_id, datetime(2028, 4, 1, tzinfo=UTC))
    resumed = subs.get_subscription(shop.account_id, made.subscription_id)
    assert (resumed.state, resumed.current_period_end) == ("active", datetime(2028, 4, 30, 10, 0, tzinfo=UTC))
    [_, _, paid] = shop.invoices(made.subscription_id)
    assert (paid.status, paid.period_start) == ("paid", datetime(2028, 3, 31, 10, 0, tzinfo=UTC))
    assert shop.charged() == [AMOUNT, AMOUNT]
    types = shop.event_types(made.subscription_id)
    assert types.index("subscription.paused") < types.index("subscription.resumed")


def test_cancel_at_period_end_ends_it_at_the_end_uncharged(server: Server) -> None:
    shop = merchant(server)
    made = subscribe(shop)
    subs = shop.client.subscriptions
    assert subs.set_cancel_at_period_end(shop.account_id, made.subscription_id).cancel_at_period_end is True

    shop.advance(made.clock_id, datetime(2028, 2, 28, tzinfo=UTC))
    assert subs.get_subscription(shop.account_id, made.subscription_id).state == "active"

    shop.advance(made.clock_id, datetime(2028, 4, 15, tzinfo=UTC))
    ended = subs.get_subscription(shop.account_id, made.subscription_id)
    assert ended.state == "canceled"
    assert ended.model_extra is not None
    assert ended.model_extra["canceled_at"] is not None
    assert [invoice.billing_reason for invoice in shop.invoices(made.subscription_id)] == ["subscription_create"]
    assert shop.charged() == [AMOUNT]
