"""Every hosted page, in every state a customer can meet it, checked by axe-core in a real browser.

axe-core comes from npm, pinned by ``tests/e2e/package-lock.json`` (``npm ci --prefix tests/e2e``; ``scripts/test``
does it). The pages forbid every script of their own (``default-src 'none'``): the test injects axe through the
DevTools protocol (``page.evaluate``), which the page's policy does not govern, so the pages are checked exactly as
they are served. A serious or critical violation fails the test with every such finding listed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, Final

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import (
    apply_code,
    charges,
    expire,
    fill_in,
    landing_on_success_url,
    open_checkout,
    open_tiered_checkout,
    pay_in_new_tab,
)
from tests.e2e.paid_checkouts import open_paid_checkout
from tests.payments import flow
from tests.support import Server

pytestmark = pytest.mark.e2e

AXE: Final = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.0 and 2.1, levels A and AA, plus axe's best practices (landmarks, one h1, heading order, ...).
RULE_TAGS: Final = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
BLOCKING_IMPACTS: Final = frozenset({"serious", "critical"})
RUN_AXE: Final = "tags => axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] })"


@cache
def axe_source() -> str:
    if not AXE.is_file():
        pytest.fail(f"axe-core is not installed: run `npm ci --prefix tests/e2e` ({AXE} is missing)")
    return AXE.read_text(encoding="utf-8")


def blocking_violations(page: Page) -> list[dict[str, Any]]:
    """axe's serious and critical findings on the page as it stands."""
    page.evaluate(axe_source())
    # Proves the injection ran: had anything blocked it, axe.run below would fail less clearly.
    assert page.evaluate("typeof window.axe?.run") == "function", "axe-core was not injected into the page"
    results: dict[str, Any] = page.evaluate(RUN_AXE, RULE_TAGS)
    return [violation for violation in results["violations"] if violation["impact"] in BLOCKING_IMPACTS]


def report(violations: list[dict[str, Any]]) -> str:
    """One paragraph per violation: what axe found, why it matters, and the elements to fix."""
    lines = []
    for violation in violations:
        lines.append(f"[{violation['impact']}] {violation['id']}: {violation['help']} ({violation['helpUrl']})")
        for node in violation["nodes"]:
            target = " ".join(str(selector) for selector in node["target"])
            lines.append(f"    {target}: {node['failureSummary']}".replace("\n", " "))
    return "\n".join(lines)


def assert_accessible(page: Page) -> None:
    violations = blocking_violations(page)
    assert not violations, f"axe-core found serious or critical violations on {page.url}:\n{report(violations)}"


def fresh(server: Server, page: Page) -> None:
    page.goto(open_checkout(server).url)


def plan_choice(server: Server, page: Page) -> None:
    page.goto(open_checkout(server, plans=True).url)
    expect(page.get_by_role("radio").first).to_be_visible()


def tiered_price(server: Server, page: Page) -> None:
    page.goto(open_tiered_checkout(server).url)
    expect(page.locator(".tiers li").first).to_be_visible()


def paid_offer(server: Server, page: Page) -> None:
    page.goto(open_paid_checkout(server).url)
    expect(page.get_by_role("link", name="Talk to sales")).to_be_visible()


def paid_offer_errors(server: Server, page: Page) -> None:
    page.goto(open_paid_checkout(server).url)
    fill_in(page)
    page.get_by_role("button", name="Pay $10.00").click()
    expect(page.locator("#address_country-error")).to_be_visible()


def code_applied(server: Server, page: Page) -> None:
    page.goto(open_checkout(server).url)
    apply_code(page)
    expect(page.get_by_role("status")).to_have_text("Promotion code applied.")


def field_errors(server: Server, page: Page) -> None:
    page.goto(open_checkout(server).url)
    page.get_by_role("button", name="Pay $19.99").click()
    expect(page.locator("[aria-invalid=true]").first).to_be_visible()


def declined(server: Server, page: Page) -> None:
    page.goto(open_checkout(server).url)
    fill_in(page, flow.INSUFFICIENT_FUNDS_CARD)
    page.get_by_role("button", name="Pay $19.99").click()
    expect(page.get_by_role("alert")).to_contain_text("insufficient funds")


def three_d_secure_challenge(server: Server, page: Page) -> None:
    page.goto(open_checkout(server).url)
    fill_in(page, flow.THREE_DS_CARD)
    page.get_by_role("button", name="Pay $19.99").click()
    expect(page.get_by_role("button", name="Approve")).to_be_visible()


def three_d_secure_decided(server: Server, page: Page) -> None:
    three_d_secure_challenge(server, page)
    challenge = page.url
    page.get_by_role("button", name="Fail").click()
    expect(page.get_by_role("alert")).to_be_visible()
    page.goto(challenge)
    expect(page.get_by_role("status")).to_have_text("This payment was not authorised.")


def three_d_secure_refused(server: Server, page: Page) -> None:
    three_d_secure_challenge(server, page)
    page.locator("input[name=csrf_token]").evaluate("input => { input.value = 'forged' }")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("heading", name="Request refused")).to_be_visible()


def three_d_secure_unknown_token(server: Server, page: Page) -> None:
    response = page.goto(f"{server.base_url}/simulator/3ds/sim3ds_no_such_token")
    assert response is not None
    assert response.status == 404


def expired(server: Server, page: Page) -> None:
    opened = open_checkout(server)
    expire(server, opened)
    page.goto(opened.url)
    expect(page.get_by_role("heading", name="Checkout expired")).to_be_visible()


def completed(server: Server, page: Page) -> None:
    opened = open_checkout(server)
    pay_in_new_tab(page, opened)
    page.goto(opened.url)
    expect(page.get_by_role("heading", name="Payment complete")).to_be_visible()


def refused(server: Server, page: Page) -> None:
    page.goto(open_checkout(server).url)
    page.locator("input[name=csrf_token]").evaluate("input => { input.value = 'forged' }")
    page.get_by_text("Add promotion code").click()
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("heading", name="Request refused")).to_be_visible()


def unknown_token(server: Server, page: Page) -> None:
    response = page.goto(f"{server.base_url}/c/cs_test_no_such_token")
    assert response is not None
    assert response.status == 404


# Each state a customer can meet, by name: how the test brings the page there.
STATES: Final[dict[str, Callable[[Server, Page], None]]] = {
    "fresh": fresh,
    "plan-choice": plan_choice,
    "paid-offer": paid_offer,
    "paid-offer-errors": paid_offer_errors,
    "tiered-price": tiered_price,
    "code-applied": code_applied,
    "field-errors": field_errors,
    "declined": declined,
    "3ds-challenge": three_d_secure_challenge,
    "3ds-decided": three_d_secure_decided,
    "3ds-refused": three_d_secure_refused,
    "3ds-unknown-token": three_d_secure_unknown_token,
    "expired": expired,
    "completed": completed,
    "refused": refused,
    "unknown-token": unknown_token,
}


@pytest.mark.parametrize("state", STATES)
def test_the_page_has_no_serious_accessibility_violations(server: Server, page: Page, state: str) -> None:
    STATES[state](server, page)
    assert_accessible(page)


def test_the_page_has_no_serious_accessibility_violations_on_a_phone(server: Server, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True)
    try:
        phone = context.new_page()
        fresh(server, phone)
        assert_accessible(phone)
    finally:
        context.close()


# The fresh page's controls in the order Tab should reach them: the order they are read in.
TAB_ORDER: Final = [
    "Order summary $19.99",
    "Add promotion code",
    "name",
    "email",
    "card_number",
    "exp",
    "cvc",
    "Pay $19.99",
    "Cancel and return to E2E shop",
]
FOCUSED: Final = """() => {
    const element = document.activeElement;
    const style = getComputedStyle(element);
    const control = element.id || element.textContent.trim();
    return { control, outline: style.outlineStyle, width: style.outlineWidth };
}"""


def test_tab_reaches_every_control_in_reading_order_with_a_visible_focus(server: Server, page: Page) -> None:
    page.goto(open_checkout(server).url)

    reached = []
    for _ in TAB_ORDER:
        page.keyboard.press("Tab")
        reached.append(page.evaluate(FOCUSED))

    assert [focus["control"] for focus in reached] == TAB_ORDER
    # WCAG 2.4.7: a focused control must show it; an outline of at least 2px is what the stylesheet promises.
    unmarked = [focus for focus in reached if focus["outline"] == "none" or float(focus["width"][:-2]) < 2]
    assert not unmarked, f"focused without a visible outline: {unmarked}"


def test_a_customer_pays_with_the_keyboard_alone(server: Server, page: Page) -> None:
    opened = open_checkout(server)
    page.goto(opened.url)

    page.keyboard.press("Tab")  # the order summary's toggle
    page.keyboard.press("Tab")  # "Add promotion code", folded
    for text in ("Ada Lovelace", "ada@example.com", flow.GOOD_CARD, "1299", "123"):
        page.keyboard.press("Tab")
        page.keyboard.type(text)
    page.keyboard.press("Tab")
    with landing_on_success_url(page, opened):
        page.keyboard.press("Enter")

    assert charges(server, opened.account_id) == [1999]
