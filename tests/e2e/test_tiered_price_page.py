"""A graduated price on the hosted page in a real browser: the line shows its tiers one by one and the amount 25
units cost, and paying charges exactly that."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import charges, fill_in, landing_on_success_url, open_tiered_checkout, screenshot
from tests.support import Server

pytestmark = pytest.mark.e2e

# 10 x $10.00 + 10 x $8.00 + 5 x $5.00 + $2.50, as tests/compat/test_paymentkit_tiered_prices.py computes it.
TOTAL_ATOM = 10 * 1000 + 10 * 800 + 5 * 500 + 250


def test_a_graduated_price_bought_at_25_shows_its_tiers_and_charges_their_sum(server: Server, page: Page) -> None:
    opened = open_tiered_checkout(server, quantity=25)
    page.goto(opened.url)

    line = page.locator(".items > li")
    expect(line.locator(".item-qty")).to_have_text("Qty 25")
    expect(line.locator(".price-terms p")).to_have_text("Graduated pricing: each tier prices its own units.")
    expect(line.locator(".tiers li")).to_have_text(
        ["1 to 10: $10.00 each", "11 to 20: $8.00 each", "21 and more: $5.00 each + $2.50 flat fee"]
    )
    expect(line.locator(".item-amount")).to_have_text("$207.50")
    expect(page.locator("#total")).to_have_text("$207.50")
    screenshot(page, "checkout-graduated-tiers")

    fill_in(page)
    with landing_on_success_url(page, opened):
        page.get_by_role("button", name="Pay $207.50").click()
    assert charges(server, opened.account_id) == [TOTAL_ATOM]


def test_the_tiers_are_read_in_the_customer_s_language_format(server: Server, page: Page) -> None:
    opened = open_tiered_checkout(server, quantity=25)
    page.context.set_extra_http_headers({"Accept-Language": "de-DE"})
    page.goto(opened.url)

    expect(page.locator(".tiers li").last).to_have_text("ab 21: je 5,00\xa0$ + 2,50\xa0$ Grundgebühr")
    expect(page.locator("#total")).to_have_text("207,50\xa0$")
