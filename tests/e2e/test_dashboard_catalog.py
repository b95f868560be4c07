"""The catalog pages in Chromium: sign in, make a product and a price with the forms, sell that price with the
"Create checkout" form, pay its shared link in a second page and see the session completed; a product family made
and given the product; axe-core on every catalog page on the way, a refused form included."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.dashboard import users
from tests.e2e.conftest import SUCCESS_ORIGIN, Checkout, fill_in, in_database, landing_on_success_url, off_the_loop
from tests.e2e.test_accessibility import assert_accessible
from tests.payments import flow
from tests.support import Server

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"


def _merchant(server: Server) -> str:
    """A fresh account with the simulator and a dashboard user, and nothing in its catalog; the user's email."""
    account_id, _ = off_the_loop(lambda: server.new_account("E2E catalog"))
    email = f"owner-{account_id.lower()}@shop.example"

    async def populate(session: AsyncSession) -> None:
        await flow.simulator(session, account_id)
        await users.create_user(session, account_id, email=email, password=PASSWORD)

    in_database(server, populate)
    return email


def test_make_a_product_and_price_then_sell_and_pay_it(server: Server, page: Page) -> None:
    email = _merchant(server)
    page.goto(f"{server.base_url}/dashboard/products")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="Products", exact=True)).to_be_visible()
    expect(page.get_by_text("0 products.")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("link", name="New product").click()
    assert_accessible(page)
    page.get_by_role("button", name="Create product").click()
    expect(page.get_by_text("Enter a name")).to_be_visible()
    expect(page.get_by_label("Name", exact=True)).to_have_attribute("aria-invalid", "true")
    assert_accessible(page)
    page.get_by_label("Name", exact=True).fill("Poster")
    page.get_by_label("Description (optional)").fill("A2, matte")
    page.get_by_label("Key 1").fill("sku")
    page.get_by_label("Value 1").fill("P-A2")
    page.get_by_role("button", name="Create product").click()

    expect(page.get_by_role("status")).to_have_text("Product created.")
    expect(page.get_by_role("heading", name="Poster", exact=True)).to_be_visible()
    product_id = page.url.split("/")[-1].split("?")[0]
    assert_accessible(page)
    page.get_by_role("link", name="Add a price").click()
    assert_accessible(page)
    page.get_by_label("Amount").fill("12.505")
    page.get_by_label("Currency").fill("usd")
    page.get_by_role("button", name="Create price").click()
    expect(page.get_by_text("USD has 2 decimal places at most")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Amount").fill("12.50")
    page.get_by_label("Nickname (optional)").fill("Print")
    page.get_by_label("One-time").check()
    page.get_by_role("button", name="Create price").click()

    expect(page.get_by_role("status")).to_have_text("Price created.")
    prices = page.get_by_role("region", name="Prices")
    expect(prices).to_contain_text("$12.50")
    expect(prices).to_contain_text("once")
    prices.get_by_role("link", name=re.compile("^price_")).click()
    expect(page.get_by_role("heading", name=re.compile("^Price price_"))).to_be_visible()
    assert_accessible(page)

    page.get_by_role("link", name="Product families").click()
    assert_accessible(page)
    page.get_by_role("link", name="New product family").click()
    assert_accessible(page)
    page.get_by_label("Name", exact=True).fill("Posters")
    page.get_by_role("button", name="Create product family").click()
    expect(page.get_by_role("status")).to_have_text("Product family created.")
    assert_accessible(page)
    page.get_by_label("Product", exact=True).select_option(value=product_id)
    page.get_by_role("button", name="Add to family").click()
    expect(page.get_by_role("status")).to_have_text("Product added to the family.")
    expect(page.get_by_role("region", name="Tiers")).to_contain_text("Poster")
    page.get_by_role("link", name="Edit product family").click()
    assert_accessible(page)

    page.get_by_role("link", name="Products", exact=True).click()
    expect(page.get_by_text("1 product.")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("link", name="Poster", exact=True).click()
    expect(page.get_by_text("Posters, rank 1")).to_be_visible()
    page.get_by_role("link", name="Edit product", exact=True).click()
    assert_accessible(page)

    page.get_by_role("link", name="Create checkout").click()
    page.get_by_label("Success URL").fill(f"{SUCCESS_ORIGIN}/ok?session={{CHECKOUT_SESSION_ID}}")
    page.get_by_label("Return URL").fill(f"{SUCCESS_ORIGIN}/back")
    page.get_by_label("Price, item 1").select_option(label="Poster · Print · $12.50")
    page.get_by_label("Quantity, item 1").fill("3")
    page.get_by_role("button", name="Create checkout").click()
    expect(page.get_by_role("status").first).to_contain_text("Checkout created")
    link = page.get_by_label("Checkout link").input_value()
    checkout_id = page.url.split("/")[-1].split("?")[0]

    customer = page.context.new_page()
    try:
        customer.goto(link)
        fill_in(customer, flow.GOOD_CARD)
        with landing_on_success_url(customer, Checkout(link, checkout_id, "")):
            customer.get_by_role("button", name=re.compile("^Pay ")).click()
    finally:
        customer.close()

    page.goto(f"{server.base_url}/dashboard/checkout-sessions/{checkout_id}")
    expect(page.locator(".status").first).to_have_text("success")
    expect(page.get_by_role("region", name="Payment", exact=True)).to_contain_text("$37.50")
