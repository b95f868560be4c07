"""Recurring tiered and package prices on both backends: the renewal invoice, its preview and the charge bill each
price's scheme for the item's quantity (graduated, volume, per started package), the invoice line showing no unit
amount it doesn't charge; a mid-period change from a graduated price to a flat one credits exactly what the tiered
line cost for the unused time; and a subscription the API creates charges its first period by the price's tiers."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.catalog.models import Price
from checkstand.core.clock import FrozenClock
from checkstand.core.money import divide_half_even
from checkstand.customers import service as customers
from checkstand.db import Database
from checkstand.invoices import renewal
from checkstand.invoices.models import PAID, Invoice, PendingInvoiceItem
from checkstand.payments import plan_changes, renewals, saved_methods, subscription_start
from checkstand.subscriptions import changes, creation
from tests.invoices.factory import fresh, saved_card
from tests.payments import flow
from tests.payments.flow import charged_amounts, gateway
from tests.payments.priced_subscriptions import monthly_price, subscribed
from tests.payments.test_renewals import START, advance, cycle_invoices


async def _renewals_bill(
    database: Database, session: AsyncSession, account_id: str, price: Price, expected: dict[int, int]
) -> None:
    """For each quantity, a subscription whose renewal preview, invoice and charge are the expected amount."""
    price_id = price.id
    processor = await saved_card(database, session, account_id)
    for quantity, amount in expected.items():
        setup = await subscribed(database, session, account_id, price_id, quantity, processor=processor)
        subscription = await fresh(session, setup.subscription_id)
        assert [item.amount_atom for item in subscription.items] == [amount]
        preview = await renewal.preview_renewal(session, subscription)
        assert [(line.quantity, line.amount_atom) for line in preview.line_items] == [(quantity, amount)]
        assert preview.total_atom == amount
        charged = len(await charged_amounts(session, account_id))
        await session.commit()  # the renewal runs in transactions of its own

        invoice = await renewals.renew_subscription(gateway(database), account_id, setup.subscription_id)

        assert (invoice.status, invoice.subtotal_atom, invoice.total_atom, invoice.paid_atom) == (
            PAID,
            amount,
            amount,
            amount,
        )
        [line] = invoice.lines
        # A line whose amount isn't a unit amount times the quantity shows no unit amount, and bills the whole.
        shown = price.unit_amount_atom if amount == price.unit_amount_atom * quantity else 0
        assert (line.quantity, line.unit_amount_atom, line.amount_atom, line.price_id) == (
            quantity,
            shown,
            amount,
            price_id,
        )
        assert (await charged_amounts(session, account_id))[charged:] == [amount]


async def test_a_graduated_price_renews_at_each_tiers_units(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    account_id = merchant[0]
    product = await catalog.create_product(session, account_id, name="Seats")
    price = await monthly_price(session, account_id, product.id, mode="graduated")
    await session.commit()
    await _renewals_bill(
        database,
        session,
        account_id,
        price,
        {1: 1000, 10: 10 * 1000, 11: 10 * 1000 + 800, 25: 10 * 1000 + 10 * 800 + 5 * 500 + 250},
    )


async def test_a_volume_price_renews_every_unit_at_the_tier_reached(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    account_id = merchant[0]
    product = await catalog.create_product(session, account_id, name="Seats")
    price = await monthly_price(session, account_id, product.id, mode="volume")
    await session.commit()
    await _renewals_bill(
        database, session, account_id, price, {5: 5 * 1000, 10: 10 * 1000, 11: 11 * 800, 25: 25 * 500 + 250}
    )


async def test_a_package_price_renews_per_started_package(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    account_id = merchant[0]
    product = await catalog.create_product(session, account_id, name="Messages")
    price = await monthly_price(session, account_id, product.id, unit_amount_atom=300, quantity_divisor=1000)
    await session.commit()
    await _renewals_bill(database, session, account_id, price, {1: 300, 1000: 300, 1001: 600, 2500: 900})


async def test_a_change_from_a_graduated_price_to_a_flat_one_credits_the_tiered_lines_exact_cost(
    database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    account_id = merchant[0]
    product = await catalog.create_product(session, account_id, name="Seats")
    graduated = await monthly_price(session, account_id, product.id, mode="graduated")
    flat = await monthly_price(session, account_id, product.id, unit_amount_atom=900)
    await session.commit()
    setup = await subscribed(database, session, account_id, graduated.id, 25, frozen_time=START)
    assert setup.clock_id is not None
    subscription = await fresh(session, setup.subscription_id)
    period_end = subscription.current_period_end
    item_id = subscription.items[0].id
    at = START + timedelta(days=15)  # 14 of the period's 29 days left
    await advance(gateway(database), session, account_id, setup.clock_id, at)
    await session.commit()

    await plan_changes.change_items(
        gateway(database),
        account_id,
        setup.subscription_id,
        [changes.ItemChange(id=item_id, price_id=flat.id)],
        proration_behavior=plan_changes.CREATE_PRORATIONS,
        proration_date=None,
    )

    tiered_cost, flat_cost = 10 * 1000 + 10 * 800 + 5 * 500 + 250, 25 * 900
    unused, whole = (period_end - at).total_seconds(), (period_end - START).total_seconds()
    pending = (
        await session.scalars(
            select(PendingInvoiceItem)
            .where(PendingInvoiceItem.subscription_id == setup.subscription_id)
            .order_by(PendingInvoiceItem.amount_atom)
        )
    ).all()
    assert [(item.price_id, item.quantity, item.amount_atom) for item in pending] == [
        (graduated.id, 25, -divide_half_even(tiered_cost * int(unused), int(whole))),
        (flat.id, 25, divide_half_even(flat_cost * int(unused), int(whole))),
    ]
    subscription = await fresh(session, setup.subscription_id)
    assert [(item.price_id, item.unit_amount_atom, item.amount_atom) for item in subscription.items] == [
        (flat.id, 900, flat_cost)
    ]
    await session.commit()

    await advance(gateway(database), session, account_id, setup.clock_id, period_end)
    invoices = await cycle_invoices(session, setup.subscription_id)
    assert [invoice.total_atom for invoice in invoices] == [flat_cost + sum(item.amount_atom for item in pending)]


async def test_a_subscription_the_api_creates_on_a_volume_price_charges_the_tier_reached(
    database: Database, session: AsyncSession, merchant: tuple[str, str], frozen_clock: FrozenClock
) -> None:
    account_id = merchant[0]
    await flow.simulator(session, account_id)
    customer = await customers.create_customer(session, account_id, email="ada@example.com")
    product = await catalog.create_product(session, account_id, name="Seats")
    price = await monthly_price(session, account_id, product.id, mode="volume")
    await saved_methods.create_credit_card(
        session,
        gateway(database),
        account_id,
        customer_id=customer.id,
        number=flow.GOOD_CARD,
        exp_month="12",
        exp_year="2099",
        cvc="123",
    )
    await session.commit()
    spec = creation.NewSubscription(customer_id=customer.id, items=[(price.id, 25)], period_start=frozen_clock.now())

    subscription = await subscription_start.start_subscription(gateway(database), account_id, spec)

    volume_25 = 25 * 500 + 250
    assert (subscription.status, [item.amount_atom for item in subscription.items]) == ("active", [volume_25])
    [invoice] = await session.scalars(select(Invoice).where(Invoice.subscription_id == subscription.id))
    assert (invoice.billing_reason, invoice.status, invoice.total_atom) == ("subscription_create", PAID, volume_25)
    # Saving the card charged nothing; the first period is the one charge.
    assert [amount for amount in await charged_amounts(session, account_id) if amount] == [volume_25]
