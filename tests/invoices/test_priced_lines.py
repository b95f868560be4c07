"""An invoice made by hand with a tiered or package price bills the price's amount for the line's quantity, not
its unit amount times it, on both backends; a unit amount given with the price still wins."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.customers import service as customers
from checkstand.invoices import manual
from tests.payments.priced_subscriptions import TIERS


async def test_a_manual_invoice_prices_a_tiered_or_package_price_for_its_quantity(
    session: AsyncSession, merchant: tuple[str, str]
) -> None:
    account_id = merchant[0]
    customer = await customers.create_customer(session, account_id, email="ada@example.com")
    product = await catalog.create_product(session, account_id, name="Seats")
    graduated = await catalog.create_price(
        session,
        account_id,
        product_id=product.id,
        currency="usd",
        unit_amount_atom=None,
        billing_scheme="tiered",
        tiers_mode="graduated",
        tiers=TIERS,
    )
    package = await catalog.create_price(
        session, account_id, product_id=product.id, currency="usd", unit_amount_atom=300, quantity_divisor=1000
    )

    invoice = await manual.create_manual_invoice(
        session,
        account_id,
        manual.NewInvoice(
            customer_id=customer.id,
            currency="usd",
            issued_at=datetime(2028, 1, 31, tzinfo=UTC),
            lines=[
                manual.NewLine(price_id=graduated.id, quantity=25),
                manual.NewLine(price_id=package.id, quantity=1001),
                manual.NewLine(price_id=package.id, quantity=2, unit_amount_atom=50),
            ],
        ),
    )

    assert [(line.quantity, line.unit_amount_atom, line.amount_atom) for line in invoice.lines] == [
        (25, 0, 10 * 1000 + 10 * 800 + 5 * 500 + 250),
        (1001, 0, 2 * 300),
        (2, 50, 100),
    ]
    assert invoice.total_atom == 20_750 + 600 + 100
