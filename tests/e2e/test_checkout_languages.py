"""The hosted page in German in a real browser against a real server: a German browser reads German headings, a
German pay button with a German amount, German errors after an empty form is sent, and the page stays accessible
(axe-core) in its language."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import open_checkout, screenshot
from tests.e2e.test_accessibility import assert_accessible
from tests.support import Server

pytestmark = pytest.mark.e2e


def test_a_german_browser_gets_a_german_page_and_german_errors(server: Server, page: Page) -> None:
    opened = open_checkout(server)
    page.context.set_extra_http_headers({"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
    page.goto(opened.url)

    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("heading", level=1)).to_have_text("Bezahlen")
    expect(page.get_by_role("group", name="Ihre Angaben")).to_be_visible()
    expect(page.locator("#total")).to_have_text("19,99\xa0$")
    assert_accessible(page)

    page.get_by_role("button", name="19,99\xa0$ bezahlen").click()

    expect(page.get_by_role("alert").first).to_have_text("Bitte prüfen Sie die unten markierten Felder.")
    expect(page.locator("#name-error")).to_have_text("Bitte geben Sie Ihren vollständigen Namen ein.")
    expect(page.locator("#email-error")).to_have_text("Bitte geben Sie Ihre E-Mail-Adresse ein.")
    expect(page.locator("#card_number-error")).to_have_text("Bitte geben Sie die Kartennummer ein.")
    expect(page.get_by_label("Vollständiger Name")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "checkout-german-errors")
    assert_accessible(page)
