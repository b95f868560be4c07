"""Bulk price migration on both backends: a product's subscriptions move from its old default price to the new one
at their next renewal, never before (a renewal already made keeps the old price, and the preview shows the new one);
a subscription sold the old price after the call keeps it; a refused migration is reported beside the ones that
apply and changes nothing; a plan change before the renewal cancels an item's move; and a second migration before
the renewal takes the items to its own target."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.catalog.models import Price
from checkstand.db import Database
from checkstand.events.models import Event
from checkstand.invoices import renewal
from checkstand.payments import renewals
from checkstand.subscriptions import changes
from checkstand.subscriptions.price_migrations import Migrated, PriceMigration, Refused, bulk_migrate_prices
from tests.invoices.factory import Billing, fresh, saved_card
from tests.payments.flow import gateway
from tests.payments.priced_subscriptions import monthly_price, subscribed
from tests.payments.test_renewals import START, advance, cycle_invoices

FEBRUARY_END = datetime(2028, 2, 29, 10, 0, tzinfo=START.tzinfo)
MARCH_END = datetime(2028, 3, 31, 10, 0, tzinfo=START.tzinfo)


async def _product_on(session: AsyncSession, account_id: str, amount: int) -> Price:
    """A product whose default price is a committed monthly ``amount`` (with its product loaded)."""
    product = await catalog.create_product(session, account_id, name="Pro")
    price = await monthly_price(session, account_id, product.id, unit_amount_atom=amount)
    await catalog.update_product(session, account_id, product.id, {"default_price_id": price.id})
    await session.commit()
    return price


async def _migrate(
    session: AsyncSession, account_id: str, *migrations: PriceMigration
) -> tuple[list[Migrated], list[Refused]]:
    done = await bulk_migrate_prices(session, account_id, migrations)
    await session.commit()
    return list(done.results), list(done.errors)


async def _held(session: AsyncSession, setup: Billing) -> list[tuple[str, str]]:
    return [(item.id, item.price_id) for item in (await fresh(session, setup.subscription_id)).items]


async def test_subscriptions_move_to_the_new_default_at_their_next_renewal_and_not_before(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    account_id = merchant[0]
    old = await _product_on(session, account_id, 900)
    new = await monthly_price(session, account_id, old.product_id, mode="graduated")
    await session.commit()
    processor = await saved_card(database, session, account_id)
    setup = await subscribed(database, session, account_id, old.id, 25, frozen_time=START, processor=processor)
    assert setup.clock_id is not None
    await advance(gateway(database), session, account_id, setup.clock_id, FEBRUARY_END)
    [(item_id, _)] = await _held(session, setup)

    results, errors = await _migrate(
        session, account_id, PriceMigration(old.product_id, new.id, migrate_subscriptions=True)
    )

    assert (results, errors) == ([Migrated(old.product_id, old.id, new.id, 1)], [])
    assert (await catalog.get_product(session, account_id, old.product_id)).default_price_id == new.id
    # Nothing moves before the renewal: the item still sells the old price, the preview bills the new one.
    assert await _held(session, setup) == [(item_id, old.id)]
    preview = await renewal.preview_renewal(session, await fresh(session, setup.subscription_id))
    graduated_25 = 10 * 1000 + 10 * 800 + 5 * 500 + 250
    assert [(line.price_id, line.quantity, line.amount_atom) for line in preview.line_items] == [
        (new.id, 25, graduated_25)
    ]
    # A subscription sold the old price after the call keeps it at its renewal.
    later = await subscribed(database, session, account_id, old.id, 2, processor=processor)
    assert (await renewals.renew_subscription(gateway(database), account_id, later.subscription_id)).total_atom == 1800
    assert [price for _, price in await _held(session, later)] == [old.id]
    await session.commit()

    await advance(gateway(database), session, account_id, setup.clock_id, MARCH_END)

    assert [invoice.total_atom for invoice in await cycle_invoices(session, setup.subscription_id)] == [
        25 * 900,
        graduated_25,
    ]
    assert await _held(session, setup) == [(item_id, new.id)]
    subscription = await fresh(session, setup.subscription_id)
    assert subscription.items[0].migrate_to_price_id is None
    assert subscription.items[0].amount_atom == graduated_25
    updated = await session.scalars(
        select(Event).where(Event.aggregate_id == setup.subscription_id, Event.type == "subscription.updated")
    )
    [moved] = updated.all()
    assert [item["price"]["id"] for item in moved.data["items"]] == [new.id]


async def test_a_refused_migration_is_reported_beside_one_that_applies_and_changes_nothing(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    account_id = merchant[0]
    old = await _product_on(session, account_id, 900)
    other = await _product_on(session, account_id, 500)
    euros = await monthly_price(session, account_id, old.product_id, unit_amount_atom=900, currency="eur")
    yearly = await monthly_price(session, account_id, old.product_id, unit_amount_atom=9000, interval="year")
    archived = await monthly_price(session, account_id, old.product_id, unit_amount_atom=800)
    await catalog.update_price(session, account_id, archived.id, {"is_active": False})
    good = await monthly_price(session, account_id, other.product_id, unit_amount_atom=700)
    metered = await catalog.create_price(
        session,
        account_id,
        product_id=old.product_id,
        currency="usd",
        unit_amount_atom=2,
        recurring_interval="month",
        usage_type="metered",
        metered_id="api_calls",
    )
    await session.commit()
    setup = await subscribed(database, session, account_id, old.id, 1)

    results, errors = await _migrate(
        session,
        account_id,
        PriceMigration(old.product_id, euros.id, migrate_subscriptions=True),
        PriceMigration(old.product_id, yearly.id, migrate_subscriptions=True),
        PriceMigration(old.product_id, archived.id, migrate_subscriptions=True),
        PriceMigration(old.product_id, metered.id, migrate_subscriptions=True),
        PriceMigration(old.product_id, good.id, migrate_subscriptions=True),
        PriceMigration("prod_missing", good.id),
        PriceMigration(other.product_id, good.id, migrate_subscriptions=True),
    )

    assert results == [Migrated(other.product_id, other.id, good.id, 0)]
    assert [(error.product_id, error.target_price_id) for error in errors] == [
        (old.product_id, euros.id),
        (old.product_id, yearly.id),
        (old.product_id, archived.id),
        (old.product_id, metered.id),
        (old.product_id, good.id),
        ("prod_missing", good.id),
    ]
    assert ["currency" in errors[0].error, "interval" in errors[1].error, "archived" in errors[2].error] == [True] * 3
    assert "metered" in errors[3].error
    assert "not a price of product" in errors[4].error
    assert (await catalog.get_product(session, account_id, old.product_id)).default_price_id == old.id
    subscription = await fresh(session, setup.subscription_id)
    assert [(item.price_id, item.migrate_to_price_id) for item in subscription.items] == [(old.id, None)]


async def test_a_plan_change_before_the_renewal_cancels_the_move_and_a_second_migration_retargets_it(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    account_id = merchant[0]
    old = await _product_on(session, account_id, 900)
    first, second, chosen = [
        await monthly_price(session, account_id, old.product_id, unit_amount_atom=amount)
        for amount in (1000, 1100, 1200)
    ]
    await session.commit()
    processor = await saved_card(database, session, account_id)
    changed = await subscribed(database, session, account_id, old.id, 1, processor=processor)
    kept = await subscribed(database, session, account_id, old.id, 3, processor=processor)

    await _migrate(session, account_id, PriceMigration(old.product_id, first.id, migrate_subscriptions=True))
    [(item_id, _)] = await _held(session, changed)
    await changes.update_items(session, account_id, changed.subscription_id, [changes.ItemChange(item_id, chosen.id)])
    await session.commit()
    results, _ = await _migrate(
        session, account_id, PriceMigration(old.product_id, second.id, migrate_subscriptions=True)
    )
    assert [result.subscriptions_migrated for result in results] == [1]

    changed_invoice = await renewals.renew_subscription(gateway(database), account_id, changed.subscription_id)
    kept_invoice = await renewals.renew_subscription(gateway(database), account_id, kept.subscription_id)

    assert [(line.price_id, line.amount_atom) for line in changed_invoice.lines] == [(chosen.id, 1200)]
    assert [(line.price_id, line.amount_atom) for line in kept_invoice.lines] == [(second.id, 3 * 1100)]
    assert [price for _, price in await _held(session, kept)] == [second.id]
