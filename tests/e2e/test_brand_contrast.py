"""A merchant's pale accent in a real browser: the colours Chromium computes still meet WCAG 2.1 AA (4.5:1)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from tests.e2e.conftest import in_database, open_checkout, screenshot
from tests.support import Server

pytestmark = pytest.mark.e2e

PALE_ACCENT = "#ffee00"
# The colour an element is drawn on: its own background, else the first ancestor's that is not transparent.
BACKDROP = """element => {
  for (let node = element; node; node = node.parentElement) {
    const color = getComputedStyle(node).backgroundColor;
    if (color !== 'rgba(0, 0, 0, 0)' && color !== 'transparent') return color;
  }
  return 'rgb(255, 255, 255)';
}"""


def rgb(css_color: str) -> tuple[int, int, int]:
    found = re.fullmatch(r"rgb\((\d+), (\d+), (\d+)\)", css_color)
    assert found is not None, f"not an opaque colour: {css_color}"
    return int(found[1]), int(found[2]), int(found[3])


def contrast(first: tuple[int, int, int], second: tuple[int, int, int]) -> float:
    """WCAG 2.1's formula, written here again so that a mistake in the page's own cannot hide."""

    def luminance(color: tuple[int, int, int]) -> float:
        r, g, b = (c / 255 / 12.92 if c / 255 <= 0.03928 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in color)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def set_accent(server: Server, account_id: str, color: str) -> None:
    async def update(session: AsyncSession) -> None:
        account = await accounts.get_account(session, account_id)
        await accounts.update_brand_settings(session, account, {"accent_color": color})

    in_database(server, update)


def test_a_pale_accent_keeps_the_pay_button_and_the_cancel_link_readable(server: Server, page: Page) -> None:
    opened = open_checkout(server)
    set_accent(server, opened.account_id, PALE_ACCENT)
    page.goto(opened.url)
    pay = page.get_by_role("button", name="Pay $19.99")
    cancel = page.get_by_role("link", name=re.compile("^Cancel and return"))

    button_fill = rgb(pay.evaluate("element => getComputedStyle(element).backgroundColor"))
    button_text = rgb(pay.evaluate("element => getComputedStyle(element).color"))
    link_text = rgb(cancel.evaluate("element => getComputedStyle(element).color"))
    link_backdrop = rgb(cancel.evaluate(BACKDROP))

    assert button_fill == (0xFF, 0xEE, 0x00), "the merchant's own colour fills the button"
    assert contrast(button_text, button_fill) >= 4.5
    assert contrast(link_text, link_backdrop) >= 4.5
    screenshot(page, "checkout-pale-accent")
