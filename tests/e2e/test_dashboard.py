"""The dashboard in Chromium: sign in, create a checkout with the form, pay its shared link in a second page, and
see it completed in the list and its detail; axe-core on every dashboard page on the way."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.dashboard import users
from tests.e2e.conftest import SUCCESS_ORIGIN, Checkout, fill_in, in_database, landing_on_success_url, off_the_loop
from tests.e2e.test_accessibility import assert_accessible
from tests.payments import flow
from tests.support import Server

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"


def _merchant(server: Server) -> str:
    """A fresh account with the simulator, a T-shirt at 19.99 USD, and a dashboard user; its email."""
    account_id, _ = off_the_loop(lambda: server.new_account("E2E dashboard"))
    email = f"owner-{account_id.lower()}@shop.example"

    async def populate(session: AsyncSession) -> None:
        await flow.simulator(session, account_id)
        product = await catalog.create_product(session, account_id, name="T-shirt")
        await catalog.create_price(session, account_id, product_id=product.id, currency="usd", unit_amount_atom=1999)
        await users.create_user(session, account_id, email=email, password=PASSWORD)

    in_database(server, populate)
    return email


def test_create_share_pay_and_see_it_in_the_dashboard(server: Server, page: Page) -> None:
    email = _merchant(server)
    page.goto(f"{server.base_url}/dashboard/checkout-sessions/new")
    expect(page).to_have_url(re.compile(r"/dashboard/sign-in\?next="))
    assert_accessible(page)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="Create and share a checkout")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Success URL").fill(f"{SUCCESS_ORIGIN}/ok?session={{CHECKOUT_SESSION_ID}}")
    page.get_by_label("Return URL").fill(f"{SUCCESS_ORIGIN}/back")
    page.get_by_label("Price, item 1").select_option(label="T-shirt · $19.99")
    page.get_by_label("Quantity, item 1").fill("2")
    page.get_by_role("button", name="Create checkout").click()

    expect(page.get_by_role("status").first).to_contain_text("Checkout created")
    assert_accessible(page)
    link = page.get_by_label("Checkout link").input_value()
    checkout_id = page.url.split("/")[-1].split("?")[0]
    expect(page.get_by_role("button", name="Copy link")).to_be_visible()  # JavaScript revealed it
    expect(page.locator(".qr svg")).to_be_visible()

    customer = page.context.new_page()
    try:
        customer.goto(link)
        fill_in(customer)
        with landing_on_success_url(customer, Checkout(link, checkout_id, "")):
            customer.get_by_role("button", name=re.compile("^Pay ")).click()
    finally:
        customer.close()

    page.goto(f"{server.base_url}/dashboard/checkout-sessions?state=success")
    assert_accessible(page)
    page.get_by_role("link", name=checkout_id).click()
    expect(page.locator(".status").first).to_have_text("success")
    expect(page.get_by_role("heading", name=re.compile("succeeded"))).to_be_visible()
    payments = page.get_by_role("region", name="Payment", exact=True)
    expect(payments).to_contain_text("$39.98")
    expect(page.get_by_role("region", name="Events and webhook deliveries")).to_contain_text(
        "checkout_session.completed"
    )
    assert_accessible(page)

    page.goto(f"{server.base_url}/dashboard/")
    expect(page.get_by_text("Completed:")).to_be_visible()
    assert_accessible(page)
