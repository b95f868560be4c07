"""A plan-change checkout in a real browser against a real server: the customer, half way through a month on Basic,
sees what changing to Team costs before paying, picks Pro instead, and is charged exactly what the page said."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from tests.e2e.conftest import (
    SUCCESS_ORIGIN,
    Checkout,
    charges,
    in_database,
    landing_on_success_url,
    off_the_loop,
    screenshot,
)
from tests.pages.plan_changes import plan_change_session, subscribed_mid_period
from tests.payments import flow
from tests.support import Server

pytestmark = pytest.mark.e2e


def open_plan_change(server: Server) -> Checkout:
    """Basic ($5), Pro ($15) and Team ($40) a month in a family; a customer on Basic since January 31, 2028, whose
    clock reads February 15; and a checkout for Team for that customer."""
    account_id, _ = off_the_loop(lambda: server.new_account("E2E plan change"))

    async def populate(session: AsyncSession) -> Checkout:
        await flow.simulator(session, account_id)
        tiers = []
        for name, amount in [("Basic", 500), ("Pro", 1500), ("Team", 4000)]:
            product = await catalog.create_product(session, account_id, name=name)
            price = await catalog.create_price(
                session,
                account_id,
                product_id=product.id,
                currency="usd",
                unit_amount_atom=amount,
                recurring_interval="month",
            )
            tiers.append((product.id, price.id))
        hierarchy = [(product_id, rank) for rank, (product_id, _) in enumerate(tiers, start=1)]
        await catalog.create_family(session, account_id, name="Plans", hierarchy=hierarchy)
        subscribed = await subscribed_mid_period(session, account_id, tiers[0][1])
        created = await plan_change_session(
            session,
            account_id,
            subscribed.customer_id,
            tiers[2][1],
            f"{SUCCESS_ORIGIN}/ok?session={{CHECKOUT_SESSION_ID}}",
        )
        return Checkout(f"{server.base_url}/c/{created.secure_token}", created.id, account_id)

    return in_database(server, populate)


def test_the_plan_change_page_shows_the_breakdown_re_prices_a_tier_and_charges_what_it_shows(
    server: Server, page: Page
) -> None:
    opened = open_plan_change(server)
    page.goto(opened.url)

    # 14 of the period's 29 days are left: Basic's unused $2.41 is credited, Team's rest of the period is $19.31.
    expect(page.get_by_role("heading", name="Your plan change")).to_be_visible()
    expect(page.locator("#current-plan")).to_have_text("Basic, $5.00 per month")
    expect(page.locator("#new-plan")).to_have_text("Team, $40.00 per month")
    expect(page.locator("#unused-credit")).to_have_text("\N{MINUS SIGN}$2.41")
    expect(page.locator("#remaining-charge")).to_have_text("$19.31")
    expect(page.locator("#due-today")).to_have_text("$16.90")
    expect(page.locator("#next-renewal")).to_have_text("$40.00 on February 29, 2028")
    expect(page.get_by_role("button", name="Pay $16.90")).to_be_visible()

    page.get_by_role("radio", name=re.compile(r"^Pro ")).check()
    # Picking it re-prices at once (the page's script posts "Update plan", hidden with JavaScript on).
    expect(page.get_by_role("status")).to_have_text("Plan changed.")
    expect(page.locator("#new-plan")).to_have_text("Pro, $15.00 per month")
    expect(page.locator("#remaining-charge")).to_have_text("$7.24")
    expect(page.locator("#due-today")).to_have_text("$4.83")
    expect(page.locator("#next-renewal")).to_have_text("$15.00 on February 29, 2028")
    screenshot(page, "checkout-plan-change")
    page.get_by_label("Card number").fill(flow.GOOD_CARD)
    page.get_by_label("Expiry date (MM / YY)").fill("12 / 99")
    page.get_by_label("Security code (CVC)").fill("123")
    with landing_on_success_url(page, opened):
        page.get_by_role("button", name="Pay $4.83").click()

    assert charges(server, opened.account_id) == [483]
