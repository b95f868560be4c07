"""The hosted page of a checkout that changes the customer's subscription, in process on both backends: it shows the
change before anything is paid (current and new plan, the credit for unused time, the charge for the rest of the
period, what is due today, the next renewal), choosing another tier re-prices it the same way, and paying charges
exactly the amount shown. The public checkout API's view carries the same breakdown.

The customer subscribed on January 31, 2028 and it is now February 15 on their clock: 14 of the period's 29 days
are left, so each line is its monthly amount times 14/29, rounded half-even once."""

from __future__ import annotations

import html
import re

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.db import Database
from checkstand.subscriptions.models import Subscription
from tests.pages.plan_changes import NOW, plan_change_session, subscribed_mid_period
from tests.pages.test_checkout_page import browser, charged, csrf, form  # noqa: F401 (a fixture and helpers)
from tests.payments import flow
from tests.shop import Plans

SUCCESS_URL = "https://shop.test/ok"
BASIC_CREDIT = 241  # 500 * 14 / 29 = 241.38
TEAM_CHARGE = 1931  # 4000 * 14 / 29 = 1931.03
PRO_CHARGE = 724  # 1500 * 14 / 29 = 724.14


def shown(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}">([^<]*)<', page)
    assert found is not None, f"no #{element_id} on the page"
    return html.unescape(found.group(1))


async def _change(session: AsyncSession, plans: Plans, held: str, to: str) -> tuple[str, str]:
    """The secure token of a session changing the customer's ``held`` plan to ``to``, and the subscription."""
    await flow.simulator(session, plans.account_id)
    subscribed = await subscribed_mid_period(session, plans.account_id, held)
    checkout = await plan_change_session(session, plans.account_id, subscribed.customer_id, to, SUCCESS_URL)
    await session.commit()
    return checkout.secure_token, subscribed.subscription_id


async def test_an_upgrade_shows_its_breakdown_re_prices_another_tier_and_charges_what_it_shows(
    browser: httpx.AsyncClient,  # noqa: F811
    database: Database,
    session: AsyncSession,
    plans: Plans,
) -> None:
    token, subscription_id = await _change(session, plans, plans.basic, plans.team)

    page = (await browser.get(f"/c/{token}")).text
    assert shown(page, "current-plan") == "Basic, $5.00 per month"
    assert shown(page, "new-plan") == "Team, $40.00 per month"
    assert shown(page, "unused-credit") == "\N{MINUS SIGN}$2.41"
    assert shown(page, "remaining-charge") == "$19.31"
    assert shown(page, "due-today") == "$16.90"
    assert shown(page, "next-renewal") == "$40.00 on February 29, 2028"
    assert "New plan until February 29, 2028" in page
    assert 'id="balance-credit"' not in page
    assert ">Pay $16.90</button>" in page
    # A code would not be counted by the proration, and Pro's trial is not a plan change's.
    assert "Promotion code" not in page
    assert "free trial" not in page

    token_ = await csrf(browser, f"/c/{token}")
    repriced = await browser.post(f"/c/{token}", data={"csrf_token": token_, "action": "plan", "plan": "0:2"})
    assert repriced.status_code == 200
    assert shown(repriced.text, "new-plan") == "Pro, $15.00 per month"
    assert shown(repriced.text, "unused-credit") == "\N{MINUS SIGN}$2.41"
    assert shown(repriced.text, "remaining-charge") == "$7.24"
    assert shown(repriced.text, "due-today") == "$4.83"
    assert shown(repriced.text, "next-renewal") == "$15.00 on February 29, 2028"
    assert ">Pay $4.83</button>" in repriced.text
    assert await charged(database, plans.account_id) == []

    paid = await browser.post(f"/c/{token}", data=form(token_, plan="0:2"))

    assert paid.status_code == 303, paid.text
    assert await charged(database, plans.account_id) == [PRO_CHARGE - BASIC_CREDIT]
    async with database.reading() as fresh:
        amended = await fresh.get(Subscription, subscription_id)
        assert amended is not None
        assert [(item.price_id, item.unit_amount_atom) for item in amended.items] == [(plans.pro, 1500)]


async def test_a_downgrade_shows_nothing_due_today_and_the_credit_left_on_the_balance(
    browser: httpx.AsyncClient,  # noqa: F811
    session: AsyncSession,
    plans: Plans,
) -> None:
    token, _ = await _change(session, plans, plans.team, plans.basic)

    page = (await browser.get(f"/c/{token}")).text

    assert shown(page, "current-plan") == "Team, $40.00 per month"
    assert shown(page, "new-plan") == "Basic, $5.00 per month"
    assert shown(page, "unused-credit") == "\N{MINUS SIGN}$19.31"
    assert shown(page, "remaining-charge") == "$2.41"
    assert shown(page, "due-today") == "$0.00"
    assert shown(page, "balance-credit") == "$16.90"
    assert shown(page, "next-renewal") == "$5.00 on February 29, 2028"
    assert ">Change plan</button>" in page


async def test_choosing_the_plan_already_held_is_refused_at_the_plan_field_and_changes_nothing(
    browser: httpx.AsyncClient,  # noqa: F811
    session: AsyncSession,
    plans: Plans,
) -> None:
    token, _ = await _change(session, plans, plans.basic, plans.team)
    token_ = await csrf(browser, f"/c/{token}")

    refused = await browser.post(f"/c/{token}", data={"csrf_token": token_, "action": "plan", "plan": "0:1"})

    assert refused.status_code == 409
    assert "You already subscribe to this plan. Choose another one." in refused.text
    assert shown(refused.text, "new-plan") == "Team, $40.00 per month"
    assert shown(refused.text, "due-today") == "$16.90"


async def test_the_public_view_carries_the_same_breakdown_and_a_chosen_tier_re_prices_it(
    client: httpx.AsyncClient, session: AsyncSession, plans: Plans
) -> None:
    token, _ = await _change(session, plans, plans.basic, plans.team)

    view = (await client.get(f"/api/public/checkout/{token}")).json()

    change = view["plan_change"]
    assert change["current_plan"] == [{"product_name": "Basic", "quantity": 1, "unit_amount_atom": 500}]
    assert change["new_plan"] == [{"product_name": "Team", "quantity": 1, "unit_amount_atom": 4000}]
    assert (change["credit_atom"], change["charge_atom"]) == (BASIC_CREDIT, TEAM_CHARGE)
    assert change["amount_due_today_atom"] == view["amount_due_today_atom"] == TEAM_CHARGE - BASIC_CREDIT
    assert change["credit_to_balance_atom"] == 0
    assert change["next_renewal_atom"] == 4000
    assert change["next_renewal_at"].startswith("2028-02-29T10:00:00")
    assert [line["amount_atom"] for line in change["lines"]] == [-BASIC_CREDIT, TEAM_CHARGE]
    assert all(line["period_start"].startswith(NOW.isoformat()[:19]) for line in change["lines"])
    assert "price_id" not in str(change)

    chosen = await client.post(f"/api/public/checkout/{token}/plan", json={"line_position": 0, "rank": 2})

    assert chosen.status_code == 200, chosen.text
    repriced = chosen.json()["plan_change"]
    assert repriced["new_plan"] == [{"product_name": "Pro", "quantity": 1, "unit_amount_atom": 1500}]
    assert repriced["amount_due_today_atom"] == chosen.json()["amount_due_today_atom"] == PRO_CHARGE - BASIC_CREDIT
