"""The dashboard's webhooks, events and API keys in Chromium: add an endpoint (its secret shown once), read its
log and an event, roll its secret; create an API key, use it, revoke it and see the API refuse it; axe-core on
every one of these pages."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.dashboard import users
from tests.e2e.conftest import in_database, off_the_loop
from tests.e2e.test_accessibility import assert_accessible
from tests.e2e.test_dashboard import PASSWORD
from tests.support import Server

pytestmark = pytest.mark.e2e


def test_webhooks_events_and_api_keys(server: Server, page: Page) -> None:
    account_id, _ = off_the_loop(lambda: server.new_account("E2E webhooks"))
    email = f"owner-{account_id.lower()}@shop.example"

    async def populate(session: AsyncSession) -> None:
        await users.create_user(session, account_id, email=email, password=PASSWORD)

    in_database(server, populate)
    page.goto(f"{server.base_url}/dashboard/webhook-endpoints")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Webhook endpoints")).to_be_visible()
    assert_accessible(page)

    page.get_by_role("link", name="Add endpoint").click()
    assert_accessible(page)
    page.get_by_label("URL", exact=True).fill("https://hooks.example/in")
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_role("textbox", name="Signing secret")).to_have_value(re.compile("^whsec_"))
    assert_accessible(page)
    first = page.get_by_role("textbox", name="Signing secret").input_value()
    page.get_by_role("button", name="Roll signing secret").click()
    expect(page.get_by_role("textbox", name="Signing secret")).to_have_value(re.compile("^whsec_"))
    assert page.get_by_role("textbox", name="Signing secret").input_value() != first

    page.get_by_role("link", name="Events").click()
    assert_accessible(page)
    page.get_by_role("link", name=re.compile("^evt")).first.click()
    expect(page.get_by_role("heading", name="Payload")).to_be_visible()
    assert_accessible(page)

    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Description (optional)").fill("e2e")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("#secret-key").input_value()
    assert_accessible(page)
    label = page.locator("label[for=secret-key]").inner_text()
    key_id = label.removeprefix("Secret key of ")
    api = f"{server.base_url}/api/{account_id}/customers/"
    assert httpx.get(api, headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    page.get_by_role("button", name=f"Revoke {key_id}").click()
    expect(page.get_by_role("status")).to_contain_text("revoked")
    assert_accessible(page)
    assert httpx.get(api, headers={"Authorization": f"Bearer {secret}"}).status_code == 401
