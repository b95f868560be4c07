"""Brand settings in Chromium, by keyboard: sign in, type a name and an accent colour, choose a logo file, preview
the hosted page beside the form (nothing saved yet), save, and see the logo on a real checkout page; axe-core on
the way."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.catalog import service as catalog
from checkstand.dashboard import users
from tests.e2e.conftest import in_database, off_the_loop
from tests.e2e.test_accessibility import assert_accessible
from tests.images import png
from tests.payments import flow
from tests.support import Server

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"


def _merchant(server: Server) -> tuple[str, str]:
    account_id, _ = off_the_loop(lambda: server.new_account("E2E branding"))
    email = f"brand-{account_id.lower()}@shop.example"

    async def populate(session: AsyncSession) -> None:
        await flow.simulator(session, account_id)
        await users.create_user(session, account_id, email=email, password=PASSWORD)

    in_database(server, populate)
    return account_id, email


def _brand(server: Server, account_id: str) -> dict[str, object]:
    async def read(session: AsyncSession) -> dict[str, object]:
        return dict((await accounts.get_account(session, account_id)).brand_settings)

    return in_database(server, read)


def test_type_upload_preview_then_save_by_keyboard(server: Server, page: Page, tmp_path: Path) -> None:
    account_id, email = _merchant(server)
    logo_file = tmp_path / "logo.png"
    logo_file.write_bytes(png(width=40, height=20, rgb=(200, 30, 60)))
    page.goto(f"{server.base_url}/dashboard/branding")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    expect(page.get_by_role("heading", name="Branding", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Branding")).to_have_attribute("aria-current", "page")
    assert_accessible(page)

    page.get_by_label("Name customers see").fill("Keyboard Shop")
    page.get_by_label("Accent colour").fill("#7a1fa2")
    page.get_by_label("Logo").set_input_files(str(logo_file))
    preview_button = page.get_by_role("button", name="Preview")
    preview_button.focus()
    page.keyboard.press("Enter")

    frame = page.frame_locator('iframe[name="preview"]')
    expect(frame.get_by_text("Keyboard Shop").first).to_be_visible()
    expect(frame.get_by_text("Pro plan (sample)")).to_be_visible()
    expect(frame.locator("img.logo")).to_have_attribute("src", re.compile("^data:image/png;base64,"))
    # The unsaved accent fills the sample's pay button, through the preview's own stylesheet.
    button = frame.get_by_role("button", name=re.compile("^Pay "))
    expect(button).to_have_css("background-color", "rgb(122, 31, 162)")
    assert _brand(server, account_id) == {}
    assert_accessible(page)

    save = page.get_by_role("button", name="Save")
    save.focus()
    page.keyboard.press("Enter")

    expect(page.get_by_role("status")).to_contain_text("Brand settings saved")
    assert_accessible(page)
    saved = _brand(server, account_id)
    assert (saved["name"], saved["accent_color"]) == ("Keyboard Shop", "#7a1fa2")
    expect(page.get_by_role("img", name="The current logo")).to_be_visible()

    async def open_one(session: AsyncSession) -> str:
        product = await catalog.create_product(session, account_id, name="T-shirt")
        price = await catalog.create_price(
            session, account_id, product_id=product.id, currency="usd", unit_amount_atom=1999
        )
        return (await flow.open_session(session, account_id, [price.id])).secure_token

    page.goto(f"{server.base_url}/c/{in_database(server, open_one)}")
    expect(page.get_by_text("Keyboard Shop").first).to_be_visible()
    logo = page.locator("img.logo")
    expect(logo).to_have_attribute("src", re.compile(r"^/brand-images/bimg_[0-9a-f]{64}$"))
    assert logo.evaluate("image => image.naturalWidth") == 40
    assert_accessible(page)
