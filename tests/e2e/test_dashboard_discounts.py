"""Coupons, promotion codes and custom fields in the dashboard, in Chromium: sign in, create a coupon, a promotion
code on its page and a custom field through the forms, visit each list and detail, and run axe-core on every page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.dashboard import users
from tests.e2e.conftest import in_database, off_the_loop
from tests.e2e.test_accessibility import assert_accessible
from tests.support import Server

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"


def _sign_in(server: Server, page: Page, path: str) -> None:
    account_id, _ = off_the_loop(lambda: server.new_account("E2E discounts"))
    email = f"owner-{account_id.lower()}@shop.example"

    async def add_user(session: AsyncSession) -> None:
        await users.create_user(session, account_id, email=email, password=PASSWORD)

    in_database(server, add_user)
    page.goto(f"{server.base_url}{path}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_coupons_promotion_codes_and_custom_fields_are_made_and_accessible(server: Server, page: Page) -> None:
    _sign_in(server, page, "/dashboard/coupons")
    expect(page.get_by_role("heading", name="Coupons", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Coupons", exact=True)).to_have_attribute("aria-current", "page")
    assert_accessible(page)

    page.get_by_role("link", name="New coupon").click()
    expect(page.get_by_role("heading", name="New coupon")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Name (optional, customers see it)").fill("Launch")
    page.get_by_label("A percentage").check()
    page.get_by_label("Percent off (up to two decimals: 12.5)").fill("20")
    page.get_by_label("For how long").select_option("repeating")
    page.get_by_role("button", name="Create coupon").click()
    expect(page.get_by_role("alert")).to_contain_text("The coupon wasn't created")
    expect(page.locator("#duration_in_months-error")).to_have_text("required when duration is repeating")
    assert_accessible(page)
    page.get_by_label("Months").fill("3")
    page.get_by_role("button", name="Create coupon").click()

    expect(page.get_by_role("heading", name=re.compile("^Coupon coupon_"))).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("Coupon created.")
    expect(page.get_by_role("region", name="Summary")).to_contain_text("20% off for 3 months")
    assert_accessible(page)

    page.get_by_label("Code customers type (letters, digits, - and _)").fill("LAUNCH20")
    page.get_by_label("Only for a customer's first purchase").check()
    page.get_by_role("button", name="Create promotion code").click()
    expect(page.get_by_role("heading", name="Promotion code LAUNCH20")).to_be_visible()
    expect(page.get_by_role("region", name="Redemptions")).to_contain_text("0 redemptions.")
    assert_accessible(page)
    page.get_by_role("button", name="Deactivate promotion code").click()
    expect(page.get_by_role("status")).to_contain_text("Promotion code deactivated")
    assert_accessible(page)

    page.get_by_role("region", name="Summary").get_by_role("link", name="Launch").click()
    expect(page.get_by_role("region", name="Promotion codes")).to_contain_text("LAUNCH20: inactive")
    page.goto(f"{server.base_url}/dashboard/coupons/promotion-codes")
    expect(page.get_by_role("link", name="LAUNCH20")).to_be_visible()
    assert_accessible(page)
    page.goto(f"{server.base_url}/dashboard/coupons")
    expect(page.get_by_role("cell", name="20% off for 3 months")).to_be_visible()

    page.get_by_role("link", name="Custom fields", exact=True).click()
    expect(page.get_by_role("heading", name="Custom fields", exact=True)).to_be_visible()
    assert_accessible(page)
    page.get_by_role("link", name="New custom field").click()
    assert_accessible(page)
    page.get_by_label("Key (the name values are stored under; can't change)").fill("company_size")
    page.get_by_label("Label (what the customer reads)").fill("Company size")
    page.get_by_label("Type of answer").select_option("select")
    page.get_by_role("button", name="Create custom field").click()
    expect(page.locator("#options-error")).to_contain_text("a select field needs 1 to 100")
    assert_accessible(page)
    page.get_by_label("Options, one a line (a choice only)").fill("1-10\n11-50\n51+")
    page.get_by_label("Required: the customer must answer").check()
    page.get_by_role("button", name="Create custom field").click()
    expect(page.get_by_role("heading", name="Custom field company_size")).to_be_visible()
    expect(page.get_by_label("Options, one a line")).to_have_value("1-10\n11-50\n51+")
    assert_accessible(page)

    page.get_by_role("link", name="Custom fields", exact=True).click()
    expect(page.get_by_role("cell", name="select: 1-10, 11-50, 51+")).to_be_visible()
    assert_accessible(page)
