"""The public checkout API, keyed by the session's secure token: the customer's view, confirm, and resume after
3-D Secure. In process, on both backends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout import lifecycle as checkout_lifecycle
from checkstand.core.clock import FrozenClock
from checkstand.db import Database
from checkstand.payments.models import CheckoutAttempt
from checkstand.processors import simulator as sim
from checkstand.processors.base import customer_message
from checkstand.subscriptions.models import Subscription
from tests.payments import flow
from tests.shop import Plans, Shop

CUSTOMER = {"name": "Ada Lovelace", "email": "ada@example.com"}


def body(number: str = flow.GOOD_CARD, **extra: Any) -> dict[str, Any]:
    return {
        "payment_method": {"card": {"number": number, "exp_month": 12, "exp_year": 2099, "cvc": "123"}},
        "customer": CUSTOMER,
        **extra,
    }


def confirm_url(token: str) -> str:
    return f"/api/public/checkout/{token}/confirm"


async def attempt_count(database: Database) -> int:
    async with database.reading() as fresh:
        return int(await fresh.scalar(select(func.count()).select_from(CheckoutAttempt)) or 0)


async def test_the_customers_view_shows_what_the_page_needs_and_nothing_internal(
    client: httpx.AsyncClient, session: AsyncSession, shop: Shop
) -> None:
    processor = await flow.simulator(session, shop.account_id)
    created = await flow.open_session(session, shop.account_id, [shop.tshirt], tiers=[([shop.sticker], None)])

    response = await client.get(f"/api/public/checkout/{created.secure_token}")

    assert response.status_code == 200
    view = response.json()
    assert view["id"] == created.id
    assert view["state"] == "open"
    assert (view["currency"], view["amount_total_atom"]) == ("usd", 1999)
    assert [(tier["tier"], tier["amount_atom"]) for tier in view["tiers"]] == [(0, 1999), (1, 500)]
    assert view["tiers"][0]["line_items"][0]["product_name"] == "T-shirt"
    assert view["requires_customer_details"] is True
    assert view["success_url"] == f"https://shop.test/ok?session={created.id}"
    text = response.text
    for internal in (
        "secret-internal-42",
        "metadata",
        shop.account_id,
        processor.id,
        created.secure_token,
        shop.tshirt,
        shop.tshirt_product,
    ):
        assert internal not in text


async def test_an_unknown_token_is_not_found(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/public/checkout/cst_nope")).status_code == 404
    assert (await client.post(confirm_url("cst_nope"), json=body())).status_code == 404


async def test_confirm_pays_then_the_session_is_completed(
    client: httpx.AsyncClient, session: AsyncSession, shop: Shop
) -> None:
    await flow.simulator(session, shop.account_id)
    created = await flow.open_session(session, shop.account_id, [shop.tshirt])

    paid = await client.post(confirm_url(created.secure_token), json=body())
    again = await client.post(confirm_url(created.secure_token), json=body())
    view = await client.get(f"/api/public/checkout/{created.secure_token}")

    assert paid.status_code == 200
    assert paid.json()["state"] == "succeeded"
    assert paid.json()["id"].startswith("catt_")
    assert paid.json()["redirect_url"] == f"https://shop.test/ok?session={created.id}"
    assert again.status_code == 409
    assert again.json()["code"] == "checkout_session_completed"
    assert view.json()["state"] == "success"


async def test_a_decline_answers_the_customers_message_and_leaves_the_session_open(
    client: httpx.AsyncClient, session: AsyncSession, shop: Shop
) -> None:
    await flow.simulator(session, shop.account_id)
    created = await flow.open_session(session, shop.account_id, [shop.tshirt])

    declined = await client.post(confirm_url(created.secure_token), json=body(flow.INSUFFICIENT_FUNDS_CARD))

    assert declined.status_code == 200
    assert declined.json()["state"] == "failed"
    assert declined.json()["error_message"] == customer_message("insufficient_funds")
    assert declined.json()["redirect_url"] is None
    assert "simulator" not in declined.text.lower()
    assert (await client.get(f"/api/public/checkout/{created.secure_token}")).json()["state"] == "open"


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        ({"payment_method": body()["payment_method"]}, ["body", "customer", "name"]),
        (body(amount_atom=1), ["body", "amount_atom"]),
        (body(tier=5), ["body", "tier"]),
        (
            {**body(), "payment_method": {**body()["payment_method"], "payment_method_id": "pm_x"}},
            ["body", "payment_method"],
        ),
        ({**body(), "customer": {"name": "Ada", "email": "not-an-email"}}, ["body", "customer", "email"]),
        (body(promotion_code="NOSUCHCODE"), ["body", "promotion_code"]),
    ],
)
async def test_bad_input_is_a_422_naming_the_field_and_changes_nothing(
    client: httpx.AsyncClient,
    session: AsyncSession,
    database: Database,
    shop: Shop,
    payload: dict[str, Any],
    loc: list[str],
) -> None:
    await flow.simulator(session, shop.account_id)
    created = await flow.open_session(session, shop.account_id, [shop.tshirt])

    response = await client.post(confirm_url(created.secure_token), json=payload)

    assert response.status_code == 422
    assert loc in [problem["loc"] for problem in response.json()["detail"]]
    assert await attempt_count(database) == 0


async def test_three_d_secure_through_the_challenge_then_resume(
    client: httpx.AsyncClient, session: AsyncSession, database: Database, shop: Shop
) -> None:
    await flow.simulator(session, shop.account_id)
    created = await flow.open_session(session, shop.account_id, [shop.tshirt])

    waiting = await client.post(confirm_url(created.secure_token), json=body(flow.THREE_DS_CARD))
    assert waiting.json()["state"] == "requires_action"
    challenge = waiting.json()["next_action"]["url"]
    assert challenge.startswith("http://checkstand.test/simulator/3ds/")
    async with database.writing() as writing:
        charge = await sim.find_challenge(writing, challenge.rsplit("/", 1)[1])
        assert charge is not None
        await sim.decide_challenge(writing, charge, approve=True)
        await writing.commit()
    attempt_id = waiting.json()["id"]
    resumed = await client.post(f"/api/public/checkout/{created.secure_token}/attempts/{attempt_id}/resume")
    seen = await client.get(f"/api/public/checkout/{created.secure_token}/attempts/{attempt_id}")

    assert resumed.status_code == 200
    assert resumed.json()["state"] == "succeeded"
    assert seen.json()["state"] == "succeeded"


async def test_another_sessions_token_cant_see_or_resume_an_attempt(
    client: httpx.AsyncClient, session: AsyncSession, shop: Shop
) -> None:
    await flow.simulator(session, shop.account_id)
    mine = await flow.open_session(session, shop.account_id, [shop.tshirt])
    other = await flow.open_session(session, shop.account_id, [shop.tshirt])
    attempt_id = (await client.post(confirm_url(mine.secure_token), json=body(flow.THREE_DS_CARD))).json()["id"]

    base = f"/api/public/checkout/{other.secure_token}/attempts/{attempt_id}"
    assert (await client.get(base)).status_code == 404
    assert (await client.post(f"{base}/resume")).status_code == 404


async def test_confirm_is_rate_limited_per_session(
    client: httpx.AsyncClient, session: AsyncSession, database: Database, shop: Shop
) -> None:
    await flow.simulator(session, shop.account_id)
    created = await flow.open_session(session, shop.account_id, [shop.tshirt])
    for index in range(flow.POLICY.rate_limits.max_failed_per_session):
        number = flow.DECLINING_CARDS[index % len(flow.DECLINING_CARDS)]
        declined = await client.post(confirm_url(created.secure_token), json=body(number))
        assert declined.json()["state"] == "failed"

    limited = await client.post(confirm_url(created.secure_token), json=body())

    assert limited.status_code == 429
    assert limited.json()["code"] == "too_many_attempts"
    assert await attempt_count(database) == flow.POLICY.rate_limits.max_failed_per_session


async def test_an_expired_session_cant_be_paid(
    client: httpx.AsyncClient, session: AsyncSession, database: Database, shop: Shop, frozen_clock: FrozenClock
) -> None:
    await flow.simulator(session, shop.account_id)
    created = await flow.open_session(session, shop.account_id, [shop.tshirt])
    frozen_clock.advance(timedelta(hours=25))

    response = await client.post(confirm_url(created.secure_token), json=body())

    assert response.status_code == 409
    assert response.json()["code"] == "checkout_session_expired"
    assert (await client.get(f"/api/public/checkout/{created.secure_token}")).json()["state"] == "expired"
    assert await attempt_count(database) == 0


async def test_the_view_offers_the_plan_tiers_and_a_chosen_plan_is_what_is_subscribed_to(
    client: httpx.AsyncClient, session: AsyncSession, database: Database, plans: Plans
) -> None:
    await flow.simulator(session, plans.account_id)
    created = await flow.open_session(session, plans.account_id, [plans.basic])
    view = (await client.get(f"/api/public/checkout/{created.secure_token}")).json()
    [choice] = view["plan_choices"]
    assert choice["line_position"] == 0
    assert [(o["rank"], o["product_name"], o["unit_amount_atom"], o["selected"]) for o in choice["options"]] == [
        (1, "Basic", 500, True),
        (2, "Pro", 1500, False),
        (3, "Team", 4000, False),
    ]
    assert (choice["options"][1]["recurring_interval"], choice["options"][1]["trial_days"]) == ("month", 14)

    changed = await client.post(
        f"/api/public/checkout/{created.secure_token}/plan", json={"line_position": 0, "rank": 2}
    )

    assert changed.status_code == 200, changed.text
    assert changed.json()["amount_total_atom"] == 1500
    # Pro starts with its 14-day trial: nothing is due today, the card is only set up.
    assert changed.json()["amount_due_today_atom"] == 0
    assert changed.json()["tiers"][0]["line_items"][0]["product_name"] == "Pro"
    paid = await client.post(confirm_url(created.secure_token), json=body())
    assert paid.json()["state"] == "succeeded"
    async with database.reading() as fresh:
        assert await flow.charged_amounts(fresh, plans.account_id) == [0]
        subscription = await fresh.scalar(select(Subscription).where(Subscription.account_id == plans.account_id))
    assert subscription is not None
    assert (subscription.status, [item.unit_amount_atom for item in subscription.items]) == ("trialing", [1500])


@pytest.mark.parametrize(
    ("sent", "status", "loc"),
    [
        ({"line_position": 0, "rank": 9}, 422, ["body", "plan"]),
        ({"line_position": 0}, 422, ["body", "rank"]),
        ({"line_position": 0, "rank": 2, "amount_atom": 1}, 422, ["body", "amount_atom"]),
        ({"line_position": -1, "rank": 2}, 422, ["body", "line_position"]),
    ],
)
async def test_a_plan_not_offered_or_a_bad_body_is_a_422_and_changes_nothing(
    client: httpx.AsyncClient, session: AsyncSession, plans: Plans, sent: dict[str, Any], status: int, loc: list[str]
) -> None:
    created = await flow.open_session(session, plans.account_id, [plans.basic])

    refused = await client.post(f"/api/public/checkout/{created.secure_token}/plan", json=sent)

    assert refused.status_code == status, refused.text
    assert refused.json()["detail"][0]["loc"] == loc
    assert (await client.get(f"/api/public/checkout/{created.secure_token}")).json()["amount_total_atom"] == 500


async def test_a_closed_session_offers_no_plan_and_refuses_a_change(
    client: httpx.AsyncClient, session: AsyncSession, plans: Plans
) -> None:
    created = await flow.open_session(session, plans.account_id, [plans.basic])
    await checkout_lifecycle.expire_session(session, plans.account_id, created.id)
    await session.commit()

    assert (await client.get(f"/api/public/checkout/{created.secure_token}")).json()["plan_choices"] == []
    refused = await client.post(
        f"/api/public/checkout/{created.secure_token}/plan", json={"line_position": 0, "rank": 2}
    )
    assert refused.status_code == 409
