"""A Paid checkout in a real browser against a real server: the customer picks Pro over Basic, gives an address
and a phone number, pays with the simulator's card, and lands on the merchant's success URL carrying the checkout's
Paid id; the order and what the customer gave are read back."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout import service as checkout_service
from checkstand.customers import service as customers
from tests.e2e.conftest import SUCCESS_ORIGIN, charges, fill_in, in_database, screenshot
from tests.e2e.paid_checkouts import PRO, open_paid_checkout
from tests.support import Server

pytestmark = pytest.mark.e2e


def test_the_customer_picks_a_plan_gives_address_and_phone_pays_and_lands_on_the_success_url(
    server: Server, page: Page
) -> None:
    opened = open_paid_checkout(server)
    page.goto(opened.url)
    expect(page.locator("#total")).to_have_text("$10.00")
    expect(page.get_by_role("link", name="Talk to sales")).to_have_attribute("href", f"{SUCCESS_ORIGIN}/sales")
    expect(page.get_by_role("link", name=re.compile("^Cancel and return"))).to_have_attribute(
        "href", f"{SUCCESS_ORIGIN}/pricing"
    )

    page.get_by_role("radio", name=re.compile("^Pro")).first.check()
    # Picking it re-prices at once (the page's script posts "Update plan", hidden with JavaScript on).
    expect(page.get_by_role("status")).to_have_text("Plan changed.")
    expect(page.locator("#total")).to_have_text("$30.00")
    screenshot(page, "paid-checkout-plan-picked")

    fill_in(page)
    page.get_by_label("Phone number").fill("+44 20 7946 0000")
    page.get_by_label("Address line 1").fill("12 Analytical Row")
    page.get_by_label("City").fill("London")
    page.get_by_label("Postal code (optional)").fill("N1 9GU")
    page.get_by_label("Country").select_option("GB")
    with page.expect_request(f"{SUCCESS_ORIGIN}/ok?checkout={opened.id}", timeout=15_000):
        page.get_by_role("button", name="Pay $30.00").click()

    assert charges(server, opened.account_id) == [PRO]

    async def bought(session: AsyncSession) -> tuple[str, str | None, str | None, str | None]:
        session_id = "cs_" + opened.id.removeprefix("chk_")
        checkout = await checkout_service.get_session(session, opened.account_id, session_id)
        assert checkout.customer_id is not None
        customer = await customers.get_customer(session, opened.account_id, checkout.customer_id)
        address = customer.address or {}
        return checkout.line_items[0].price_id, customer.phone, address.get("city"), address.get("country")

    assert in_database(server, bought) == (opened.pro_price_id, "+44 20 7946 0000", "London", "GB")


def test_a_missing_address_is_asked_for_field_by_field_and_nothing_is_charged(server: Server, page: Page) -> None:
    opened = open_paid_checkout(server)
    page.goto(opened.url)
    fill_in(page)
    page.get_by_role("button", name="Pay $10.00").click()

    expect(page.locator("#address_line1-error")).to_have_text("Fill in this field.")
    expect(page.locator("#address_country-error")).to_have_text("Choose a country.")
    expect(page.locator("#phone-error")).to_have_text("Enter your phone number.")
    assert charges(server, opened.account_id) == []
