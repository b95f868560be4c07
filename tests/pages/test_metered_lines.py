"""A metered price on the hosted page and in the public checkout API, on both backends: its line is billed by
usage, shown with its rates (per unit, or tier by tier) and no amount or quantity, charges nothing today, and a
session of metered prices only saves the card by a setup and starts the subscription with the metered item."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.checkout.models import CheckoutSession
from checkstand.db import Database
from checkstand.subscriptions.models import Subscription
from tests.pages.test_checkout_page import charged, csrf, form
from tests.payments import flow
from tests.usage.factory import metered_price

TIERS = [
    {"units_upto": 10, "unit_amount_atom": 100, "flat_amount_atom": 0},
    {"units_upto": None, "unit_amount_atom": 50, "flat_amount_atom": 250},
]


async def _sessions(session: AsyncSession, account_id: str) -> tuple[CheckoutSession, CheckoutSession]:
    """A session selling a one-time setup fee and a graduated metered price, and one selling a metered price
    alone."""
    await flow.simulator(session, account_id)
    product = await catalog.create_product(session, account_id, name="Setup")
    fee = await catalog.create_price(session, account_id, product_id=product.id, currency="usd", unit_amount_atom=900)
    tiered = await metered_price(session, account_id, tiers=TIERS)
    per_unit = await metered_price(session, account_id, unit_amount_atom=3, meter="tokens")
    mixed = await flow.open_session(session, account_id, [fee.id, tiered])
    alone = await flow.open_session(session, account_id, [per_unit])
    await session.commit()
    return mixed, alone


async def test_a_metered_line_is_billed_by_usage_at_its_rates(
    client: httpx.AsyncClient, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    mixed, alone = await _sessions(session, merchant[0])
    assert (mixed.amount_total_atom, mixed.amount_due_today_atom) == (900, 900)

    shown = await client.get(f"/c/{mixed.secure_token}")
    assert shown.status_code == 200
    assert shown.text.count("Billed by usage") == 1
    assert "1 to 10: $1.00 each; 11 and more: $0.50 each + $2.50 flat fee" in shown.text
    assert 'id="total">$9.00<' in shown.text
    assert "Pay $9.00" in shown.text
    alone_page = await client.get(f"/c/{alone.secure_token}")
    assert "$0.03 per unit" in alone_page.text
    assert "Subscribe</button>" in alone_page.text

    public = (await client.get(f"/api/public/checkout/{mixed.secure_token}")).json()
    fee, usage = public["tiers"][0]["line_items"]
    assert (fee["billed_by_usage"], fee["usage_rate"]) == (False, None)
    assert (usage["billed_by_usage"], usage["amount_subtotal_atom"]) == (True, 0)
    assert usage["usage_rate"] == {
        "billing_scheme": "tiered",
        "unit_amount_atom": 0,
        "per_units": 1,
        "tiers_mode": "graduated",
        "tiers": [
            {"units_upto": 10, "unit_amount_atom": 100, "flat_amount_atom": 0},
            {"units_upto": None, "unit_amount_atom": 50, "flat_amount_atom": 250},
        ],
    }


async def test_a_session_of_metered_prices_saves_the_card_and_charges_nothing(
    client: httpx.AsyncClient, database: Database, session: AsyncSession, merchant: tuple[str, str]
) -> None:
    _, alone = await _sessions(session, merchant[0])
    token = await csrf(client, f"/c/{alone.secure_token}")

    paid = await client.post(f"/c/{alone.secure_token}", data=form(token))

    assert paid.status_code == 303
    assert await charged(database, merchant[0]) == [0]  # a setup: the card saved, nothing taken
    async with database.reading() as fresh:
        held = await fresh.scalar(select(Subscription).where(Subscription.checkout_session_id == alone.id))
        assert held is not None
        assert [(item.price.usage_type, item.quantity) for item in held.items] == [("metered", 0)]
        assert held.default_payment_method_id is not None
