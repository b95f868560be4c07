"""Coupons and promotion codes in the dashboard: created through the forms (the service's checks and messages, next
to their fields, nothing stored on a refusal), the terms in words, activate, deactivate and delete, every form
refused without its CSRF token, nothing of another account, and a redemption made through a real checkout shown on
the coupon's and the code's pages."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.checkout import service as checkout_service
from checkstand.core import clock
from checkstand.db import Database
from checkstand.discounts.models import Coupon, PromotionCode, Redemption
from checkstand.payments import flow as payment_flow
from checkstand.subscriptions.models import Subscription
from tests.conftest import bearer
from tests.dashboard.helpers import DashboardUser, make_user, page_csrf, sign_in
from tests.payments import flow

NEW = "/dashboard/coupons/new"
CODES = "/dashboard/coupons/promotion-codes"


def _coupon_form(**fields: str) -> dict[str, str]:
    return {"discount_type": "percent_off", "duration": "once", "currency": "usd", **fields}


async def _create_coupon(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    return await client.post(NEW, data={"csrf_token": await page_csrf(client, NEW), **_coupon_form(**fields)})


async def _coupon_id(client: httpx.AsyncClient, **fields: str) -> str:
    created = await _create_coupon(client, **fields)
    assert created.status_code == 303, created.text
    return created.headers["location"].split("/")[-1].split("?")[0]


async def _create_code(client: httpx.AsyncClient, coupon_id: str, **fields: str) -> httpx.Response:
    page = f"/dashboard/coupons/{coupon_id}"
    return await client.post(f"{page}/promotion-codes", data={"csrf_token": await page_csrf(client, page), **fields})


async def _count(session: AsyncSession, model: type[Coupon | PromotionCode], account_id: str) -> int:
    """How many rows the account has, the read ended so the app's next writer doesn't wait on it (SQLite)."""
    count = await session.scalar(select(func.count()).select_from(model).where(model.account_id == account_id))
    await session.commit()
    return int(count or 0)


async def _coupon(session: AsyncSession, coupon_id: str) -> Coupon:
    session.expire_all()
    coupon = await session.get(Coupon, coupon_id)
    assert coupon is not None
    await session.commit()
    return coupon


async def _signed_in(client: httpx.AsyncClient, session: AsyncSession) -> DashboardUser:
    user = await make_user(session)
    await sign_in(client, user.email)
    return user


async def test_coupons_are_created_in_words_listed_searched_and_filtered(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await _signed_in(client, session)
    assert (await client.get(NEW)).status_code == 200
    percent = await _coupon_id(
        client, name="Spring", percent_off="20", duration="repeating", duration_in_months="3", max_redemptions="100"
    )
    amount = await _coupon_id(client, name="Welcome", discount_type="amount_off", amount_off="5.00", currency="USD")
    trial = await _coupon_id(client, discount_type="trial_extension", trial_days_off="14", duration="forever")

    detail = await client.get(f"/dashboard/coupons/{percent}?done=created")
    assert detail.status_code == 200
    assert "20% off for 3 months" in detail.text
    assert "Coupon created." in detail.text
    assert "0 of at most 100" in detail.text
    assert "$5.00 off once" in (await client.get(f"/dashboard/coupons/{amount}")).text
    assert "14 more trial days forever" not in (await client.get(f"/dashboard/coupons/{trial}")).text
    assert "14 more trial days" in (await client.get(f"/dashboard/coupons/{trial}")).text

    listed = await client.get("/dashboard/coupons")
    assert all(f'href="/dashboard/coupons/{one}"' in listed.text for one in (percent, amount, trial))
    assert "<p>3 coupons.</p>" in listed.text
    searched = await client.get("/dashboard/coupons", params={"q": "spring"})
    assert percent in searched.text
    assert amount not in searched.text
    assert percent not in (await client.get("/dashboard/coupons", params={"status": "inactive"})).text
    odd = await client.get("/dashboard/coupons", params={"status": "nope", "page": "x"})
    assert odd.status_code == 200
    assert percent in odd.text


async def test_a_refused_coupon_shows_the_services_messages_by_their_fields_and_stores_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await _signed_in(client, session)
    api = await client.post(
        f"/api/{user.account_id}/coupons/",
        json={"discount_type": "percent_off", "percent_off": 10, "duration": "repeating"},
        headers=bearer(user.secret),
    )
    assert api.status_code == 422
    service_message = api.json()["detail"][0]["msg"]

    refused = await _create_coupon(client, percent_off="10", duration="repeating")
    assert refused.status_code == 422
    assert 'aria-describedby="duration_in_months-error"' in refused.text
    assert service_message in refused.text

    too_much = await _create_coupon(client, percent_off="150", max_redemptions="0")
    assert too_much.status_code == 422
    assert 'id="percent_off-error">must be greater than 0 and at most 100' in too_much.text
    assert 'id="max_redemptions-error">must be greater than 0' in too_much.text

    past = (clock.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    expired = await _create_coupon(client, percent_off="10", valid_until=past)
    assert expired.status_code == 422
    assert 'id="valid_until-error">must be in the future' in expired.text

    cents = await _create_coupon(client, discount_type="amount_off", amount_off="5.001", currency="usd")
    assert cents.status_code == 422
    assert 'id="amount_off-error">at most 2 decimals in USD' in cents.text
    for typed in ({"percent_off": "lots"}, {"percent_off": "10", "max_redemptions": "99999999999"}):
        not_a_number = await _create_coupon(client, **typed)
        assert not_a_number.status_code == 422, typed
    no_amount = await _create_coupon(client, discount_type="amount_off", currency="usd")
    assert 'id="amount_atom_off-error"' not in no_amount.text
    assert 'id="amount_off-error">required when discount_type is amount_off' in no_amount.text
    assert await _count(session, Coupon, user.account_id) == 0


async def test_a_coupon_is_deactivated_activated_and_deleted_once_confirmed(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await _signed_in(client, session)
    coupon_id = await _coupon_id(client, percent_off="10")
    page = f"/dashboard/coupons/{coupon_id}"

    off = await client.post(f"{page}/deactivate", data={"csrf_token": await page_csrf(client, page)})
    assert off.status_code == 303
    assert "Coupon deactivated" in (await client.get(off.headers["location"])).text
    assert (await _coupon(session, coupon_id)).status == "inactive"
    assert coupon_id in (await client.get("/dashboard/coupons", params={"status": "inactive"})).text
    on = await client.post(f"{page}/activate", data={"csrf_token": await page_csrf(client, page)})
    assert on.status_code == 303
    assert (await _coupon(session, coupon_id)).status == "active"

    unconfirmed = await client.post(f"{page}/delete", data={"csrf_token": await page_csrf(client, page)})
    assert unconfirmed.status_code == 422
    assert 'id="confirm-delete-error">Tick the box' in unconfirmed.text
    assert (await _coupon(session, coupon_id)).status == "active"
    deleted = await client.post(f"{page}/delete", data={"csrf_token": await page_csrf(client, page), "confirm": "yes"})
    assert deleted.status_code == 303
    assert (await _coupon(session, coupon_id)).status == "deleted"
    assert coupon_id not in (await client.get("/dashboard/coupons")).text
    assert coupon_id in (await client.get("/dashboard/coupons", params={"status": "deleted"})).text
    again = await client.post(f"{page}/activate", data={"csrf_token": await page_csrf(client, page)})
    assert again.status_code == 409
    assert "is deleted" in again.text
    assert (await _coupon(session, coupon_id)).status == "deleted"


async def test_a_promotion_code_is_made_on_its_coupons_page_then_listed_and_deactivated(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await _signed_in(client, session)
    coupon_id = await _coupon_id(client, percent_off="15")
    made = await _create_code(client, coupon_id, code="Spring-15", max_redemptions="5", first_time_transaction="yes")
    assert made.status_code == 303, made.text
    code_page = made.headers["location"].split("?")[0]
    detail = await client.get(made.headers["location"])
    assert "Promotion code created." in detail.text
    assert "15% off once" in detail.text
    assert "0 of at most 5" in detail.text
    assert "<dt>First purchase only</dt><dd>yes</dd>" in detail.text
    assert f'href="{code_page}"' in (await client.get(f"/dashboard/coupons/{coupon_id}")).text
    assert f'href="{code_page}"' in (await client.get(CODES, params={"q": "spring", "state": "active"})).text
    assert f'href="{code_page}"' in (await client.get(CODES, params={"coupon": coupon_id})).text
    assert f'href="{code_page}"' not in (await client.get(CODES, params={"state": "inactive"})).text

    taken = await _create_code(client, coupon_id, code="SPRING-15")
    assert taken.status_code == 409
    assert 'id="code-error">The promotion code &#39;SPRING-15&#39; is already in use' in taken.text
    malformed = await _create_code(client, coupon_id, code="two words", expires_at="soon")
    assert malformed.status_code == 422
    assert 'id="code-error">Letters, digits' in malformed.text
    assert 'id="expires_at-error">Enter a date and time (UTC)' in malformed.text
    past = (clock.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    refused = await _create_code(client, coupon_id, code="OTHER", max_redemptions="0", expires_at=past)
    assert refused.status_code == 422
    assert 'id="max_redemptions-error">must be greater than 0' in refused.text
    assert 'id="expires_at-error">must be in the future' in refused.text
    assert await _count(session, PromotionCode, user.account_id) == 1

    off = await client.post(f"{code_page}/deactivate", data={"csrf_token": await page_csrf(client, code_page)})
    assert off.status_code == 303
    assert "Activate promotion code" in (await client.get(code_page)).text
    session.expire_all()
    code = await session.scalar(select(PromotionCode).where(PromotionCode.account_id == user.account_id))
    assert code is not None
    assert code.active is False
    await session.commit()
    assert f'href="{code_page}"' in (await client.get(CODES, params={"state": "inactive"})).text


async def test_every_form_is_refused_without_its_csrf_token(client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await _signed_in(client, session)
    coupon_id = await _coupon_id(client, percent_off="10")
    made = await _create_code(client, coupon_id, code="KEEP")
    code_page = made.headers["location"].split("?")[0]
    page = f"/dashboard/coupons/{coupon_id}"
    for path, data in (
        (NEW, _coupon_form(percent_off="5")),
        (f"{page}/deactivate", {}),
        (f"{page}/delete", {"confirm": "yes"}),
        (f"{page}/promotion-codes", {"code": "FORGED"}),
        (f"{code_page}/deactivate", {}),
    ):
        for token in ({}, {"csrf_token": "forged"}):
            refused = await client.post(path, data={**data, **token})
            assert refused.status_code == 403, path
    assert await _count(session, Coupon, user.account_id) == 1
    assert await _count(session, PromotionCode, user.account_id) == 1
    assert (await _coupon(session, coupon_id)).status == "active"


async def test_another_accounts_coupon_and_code_are_not_found(client: httpx.AsyncClient, session: AsyncSession) -> None:
    theirs = await make_user(session, email="other@elsewhere.example", name="Elsewhere")
    await sign_in(client, theirs.email)
    coupon_id = await _coupon_id(client, percent_off="10", name="Theirs")
    code_page = (await _create_code(client, coupon_id, code="THEIRS")).headers["location"].split("?")[0]
    await client.post("/dashboard/sign-out", data={"csrf_token": await page_csrf(client)})
    await make_user(session)
    await sign_in(client, "owner@shop.example")

    page = f"/dashboard/coupons/{coupon_id}"
    assert (await client.get(page)).status_code == 404
    assert (await client.get(code_page)).status_code == 404
    csrf = await page_csrf(client, "/dashboard/coupons")
    for path, data in (
        (f"{page}/deactivate", {}),
        (f"{page}/delete", {"confirm": "yes"}),
        (f"{page}/delete", {}),
        (f"{page}/promotion-codes", {"code": "MINE"}),
        (f"{code_page}/deactivate", {}),
    ):
        assert (await client.post(path, data={"csrf_token": csrf, **data})).status_code == 404, path
    assert coupon_id not in (await client.get("/dashboard/coupons")).text
    assert "THEIRS" not in (await client.get(CODES)).text
    assert (await _coupon(session, coupon_id)).status == "active"
    assert await _count(session, PromotionCode, theirs.account_id) == 1


async def test_a_redemption_through_a_real_checkout_shows_on_the_coupon_and_code_pages(
    client: httpx.AsyncClient, session: AsyncSession, database: Database
) -> None:
    user = await _signed_in(client, session)
    coupon_id = await _coupon_id(client, percent_off="20", duration="repeating", duration_in_months="3")
    code_page = (await _create_code(client, coupon_id, code="LAUNCH")).headers["location"].split("?")[0]

    await flow.simulator(session, user.account_id)
    product = await catalog.create_product(session, user.account_id, name="Pro plan")
    price = await catalog.create_price(
        session,
        user.account_id,
        product_id=product.id,
        currency="usd",
        unit_amount_atom=1500,
        recurring_interval="month",
    )
    checkout = await checkout_service.create_session(
        session,
        user.account_id,
        checkout_service.NewCheckoutSession(
            success_url="https://shop.test/ok",
            return_url="https://shop.test/back",
            line_items=[checkout_service.LineItemSpec(price_id=price.id)],
            promotion_code="launch",
        ),
    )
    await session.commit()
    attempt = await payment_flow.confirm(flow.gateway(database), checkout.secure_token, flow.paying())
    assert attempt.state == "succeeded", attempt.state
    redemption = await session.scalar(select(Redemption).where(Redemption.account_id == user.account_id))
    subscription = await session.scalar(select(Subscription).where(Subscription.account_id == user.account_id))
    assert redemption is not None
    assert redemption.customer_id is not None
    assert subscription is not None
    await session.commit()

    for path in (f"/dashboard/coupons/{coupon_id}", code_page):
        page = await client.get(path)
        assert page.status_code == 200, path
        assert "<p>1 redemption.</p>" in page.text, path
        assert f'href="/dashboard/customers/{redemption.customer_id}"' in page.text
        assert "$3.00" in page.text
        assert f'href="/dashboard/checkout-sessions/{checkout.id}"' in page.text
        assert f'href="/dashboard/subscriptions/{subscription.id}"' in page.text
        assert ">LAUNCH</a>" in page.text
    assert "1 of at most" not in (await client.get(f"/dashboard/coupons/{coupon_id}")).text
    assert "<dt>Used</dt><dd>1 (no limit)</dd>" in (await client.get(code_page)).text
