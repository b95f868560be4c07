"""Checkout sessions over the PaymentKit dialect, in process, on both backends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.catalog import service as catalog
from checkstand.checkout.models import CheckoutSession
from checkstand.core.clock import FrozenClock
from checkstand.discounts.models import Coupon
from checkstand.events.models import Event
from tests.conftest import bearer
from tests.shop import Shop

SUCCESS_URL = "https://shop.example/thanks?session={CHECKOUT_SESSION_ID}"
RETURN_URL = "https://shop.example/cart"


def body(**overrides: Any) -> dict[str, Any]:
    return {"success_url": SUCCESS_URL, "return_url": RETURN_URL, **overrides}


async def create(client: httpx.AsyncClient, shop: Shop, **overrides: Any) -> httpx.Response:
    return await client.post(
        f"/api/{shop.account_id}/checkout-sessions/", json=body(**overrides), headers=bearer(shop.secret)
    )


async def session_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(CheckoutSession)) or 0)


async def test_create_computes_amounts_from_the_catalog(client: httpx.AsyncClient, shop: Shop) -> None:
    response = await create(
        client,
        shop,
        line_items=[{"price_id": shop.tshirt, "quantity": 2}, {"price_id": shop.sticker, "description": "Holo"}],
        promotion_code="tenoff",
        custom_fields={"gift_note": "Happy day"},
        card_checkout_settings={"three_ds_mode": "first_3ds_wins"},
        metadata={"order": "A-17"},
        cascade_line_items=[{"line_items": [{"price_id": shop.sticker}]}],
        expires_in_hours=2,
    )
    assert response.status_code == 201, response.text
    data = response.json()
    assert data["id"].startswith("cs_")
    assert data["state"] == "open"
    assert data["completed"] is False
    assert data["is_expired"] is False
    assert data["currency"] == "usd"
    assert data["amount_subtotal_atom"] == 2 * 1999 + 500
    assert data["amount_discount_atom"] == 450  # 10 % of 4498 is 449.8, rounded half-even
    assert data["amount_total_atom"] == 4048
    assert data["cascade_status"] == {"total_tiers": 2, "tier_amounts": [4048, 450]}
    assert data["promotion_code"] == "TENOFF"
    assert data["url"] == f"http://checkstand.test/c/{data['secure_token']}"
    assert len(data["secure_token"]) >= 40
    assert [item["quantity"] for item in data["line_items"]] == [2, 1]
    assert data["line_items"][1]["description"] == "Holo"
    assert data["metadata"] == {"order": "A-17"}
    assert data["card_checkout_settings"] == {"three_ds_mode": "first_3ds_wins"}
    assert data["custom_fields"] is None  # only with expand=custom_fields

    expanded = await client.get(
        f"/api/{shop.account_id}/checkout-sessions/{data['id']}",
        params={"expand": "custom_fields"},
        headers=bearer(shop.secret),
    )
    assert expanded.json()["custom_fields"] == {"gift_note": "Happy day"}


async def test_a_client_supplied_total_is_refused(client: httpx.AsyncClient, shop: Shop) -> None:
    response = await create(client, shop, line_items=[{"price_id": shop.tshirt}], amount_total_atom=1)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "amount_total_atom"]


async def test_subscription_custom_fields_are_validated_and_kept(client: httpx.AsyncClient, shop: Shop) -> None:
    wrong = await create(
        client, shop, line_items=[{"price_id": shop.monthly}], params_for_sub={"custom_fields": {"seats": "many"}}
    )
    assert wrong.status_code == 422
    assert wrong.json()["detail"][0]["loc"] == ["body", "params_for_sub", "custom_fields", "seats"]
    right = await create(
        client, shop, line_items=[{"price_id": shop.monthly}], params_for_sub={"custom_fields": {"seats": 5}}
    )
    expanded = await client.get(
        f"/api/{shop.account_id}/checkout-sessions/{right.json()['id']}?expand=custom_fields",
        headers=bearer(shop.secret),
    )
    assert expanded.json()["params_for_sub"] == {"custom_fields": {"seats": 5}}


BAD_INPUT = [
    ("unknown price", {"line_items": [{"price_id": "price_nope"}]}, ["body", "line_items", 0, "price_id"]),
    ("archived price", {"line_items": [{"price_id": "ARCHIVED"}]}, ["body", "line_items", 0, "price_id"]),
    (
        "mixed currencies",
        {"line_items": [{"price_id": "TSHIRT"}, {"price_id": "EURO"}]},
        ["body", "line_items", 1, "price_id"],
    ),
    ("foreign customer", {"line_items": [{"price_id": "TSHIRT"}], "customer_id": "cus_other"}, ["body", "customer_id"]),
    (
        "coupon and code",
        {"line_items": [{"price_id": "TSHIRT"}], "coupon_id": "COUPON", "promotion_code": "TENOFF"},
        ["body", "promotion_code"],
    ),
    ("zero quantity", {"line_items": [{"price_id": "TSHIRT", "quantity": 0}]}, ["body", "line_items", 0, "quantity"]),
    (
        "negative quantity",
        {"line_items": [{"price_id": "TSHIRT", "quantity": -2}]},
        ["body", "line_items", 0, "quantity"],
    ),
    (
        "eleven tiers",
        {
            "line_items": [{"price_id": "TSHIRT"}],
            "cascade_line_items": [{"line_items": [{"price_id": "STICKER"}]}] * 11,
        },
        ["body", "cascade_line_items"],
    ),
    (
        "javascript url",
        {"line_items": [{"price_id": "TSHIRT"}], "success_url": "javascript:alert(1)"},
        ["body", "success_url"],
    ),
    (
        "credentials in url",
        {"line_items": [{"price_id": "TSHIRT"}], "return_url": "https://u:p@shop.example/"},
        ["body", "return_url"],
    ),
    (
        "wrong custom field type",
        {"line_items": [{"price_id": "TSHIRT"}], "custom_fields": {"gift_note": 5}},
        ["body", "custom_fields", "gift_note"],
    ),
    (
        "unknown custom field",
        {"line_items": [{"price_id": "TSHIRT"}], "custom_fields": {"nope": "x"}},
        ["body", "custom_fields", "nope"],
    ),
    ("expiry too short", {"line_items": [{"price_id": "TSHIRT"}], "expires_in_hours": 0}, ["body", "expires_in_hours"]),
    (
        "expiry too long",
        {"line_items": [{"price_id": "TSHIRT"}], "expires_in_hours": 721},
        ["body", "expires_in_hours"],
    ),
    ("no line items", {"line_items": []}, ["body", "line_items"]),
    (
        "unknown price in a cascade tier",
        {"line_items": [{"price_id": "TSHIRT"}], "cascade_line_items": [{"line_items": [{"price_id": "price_nope"}]}]},
        ["body", "cascade_line_items", 0, "line_items", 0, "price_id"],
    ),
    (
        "unknown route of a cascade tier",
        {
            "line_items": [{"price_id": "TSHIRT"}],
            "cascade_line_items": [{"line_items": [{"price_id": "STICKER"}], "processor_route_id": "proute_nope"}],
        },
        ["body", "cascade_line_items", 0, "processor_route_id"],
    ),
    ("unknown coupon", {"line_items": [{"price_id": "TSHIRT"}], "coupon_id": "coupon_nope"}, ["body", "coupon_id"]),
    ("unknown code", {"line_items": [{"price_id": "TSHIRT"}], "promotion_code": "NOPE"}, ["body", "promotion_code"]),
    ("mixed intervals", {"line_items": [{"price_id": "MONTHLY"}, {"price_id": "YEARLY"}]}, ["body", "line_items"]),
    (
        "unknown route",
        {"line_items": [{"price_id": "TSHIRT"}], "processor_route_id": "proute_nope"},
        ["body", "processor_route_id"],
    ),
]


def _resolve(value: Any, shop: Shop) -> Any:
    names = {
        "TSHIRT": shop.tshirt,
        "STICKER": shop.sticker,
        "EURO": shop.euro,
        "ARCHIVED": shop.archived,
        "MONTHLY": shop.monthly,
        "YEARLY": shop.yearly,
        "COUPON": shop.coupon_all,
    }
    if isinstance(value, dict):
        return {k: _resolve(v, shop) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, shop) for v in value]
    return names.get(value, value) if isinstance(value, str) else value


@pytest.mark.parametrize(("case", "fields", "loc"), BAD_INPUT, ids=[case for case, _, _ in BAD_INPUT])
async def test_bad_input_names_the_field_and_stores_nothing(
    client: httpx.AsyncClient, shop: Shop, session: AsyncSession, case: str, fields: dict[str, Any], loc: list[Any]
) -> None:
    response = await create(client, shop, **_resolve(fields, shop))
    assert response.status_code == 422, response.text
    assert loc in [problem["loc"] for problem in response.json()["detail"]], response.json()
    assert await session_count(session) == 0


async def test_a_refused_coupon_says_why(client: httpx.AsyncClient, shop: Shop, session: AsyncSession) -> None:
    coupon = await session.get(Coupon, shop.coupon_all)
    assert coupon is not None
    coupon.status = "inactive"
    await session.commit()
    response = await create(client, shop, line_items=[{"price_id": shop.tshirt}], coupon_id=shop.coupon_all)
    assert response.status_code == 422
    problem = response.json()["detail"][0]
    assert problem["loc"] == ["body", "coupon_id"]
    assert problem["type"] == "coupon_inactive"


async def test_another_accounts_session_is_not_found(
    client: httpx.AsyncClient, shop: Shop, merchant: tuple[str, str]
) -> None:
    created = await create(client, shop, line_items=[{"price_id": shop.tshirt}])
    other_account, other_secret = merchant
    response = await client.get(
        f"/api/{other_account}/checkout-sessions/{created.json()['id']}", headers=bearer(other_secret)
    )
    assert response.status_code == 404
    assert response.json()["code"] == "checkout_session_not_found"


async def test_expiry_follows_the_clock(client: httpx.AsyncClient, shop: Shop, frozen_clock: FrozenClock) -> None:
    default = (await create(client, shop, line_items=[{"price_id": shop.tshirt}])).json()
    custom = (await create(client, shop, line_items=[{"price_id": shop.tshirt}], expires_in_hours=3)).json()
    assert default["expires_in_hours"] == 24

    async def state(checkout_id: str) -> dict[str, Any]:
        response = await client.get(
            f"/api/{shop.account_id}/checkout-sessions/{checkout_id}", headers=bearer(shop.secret)
        )
        return dict(response.json())

    frozen_clock.advance(timedelta(hours=3) - timedelta(microseconds=1))
    assert (await state(custom["id"]))["state"] == "open"
    frozen_clock.advance(timedelta(microseconds=1))  # exactly at expires_at
    assert (await state(custom["id"]))["state"] == "expired"
    assert (await state(custom["id"]))["is_expired"] is True
    frozen_clock.advance(timedelta(hours=21) - timedelta(microseconds=1))
    assert (await state(default["id"]))["state"] == "open"
    frozen_clock.advance(timedelta(microseconds=1))
    assert (await state(default["id"]))["state"] == "expired"

    added = await client.post(
        f"/api/{shop.account_id}/checkout-sessions/{default['id']}/line-items",
        json={"price_id": shop.sticker},
        headers=bearer(shop.secret),
    )
    assert added.status_code == 409
    assert added.json()["code"] == "checkout_session_expired"
    assert "expired" in added.json()["detail"]


async def test_line_items_reprice_and_complete_needs_no_payment_due(
    client: httpx.AsyncClient, shop: Shop, session: AsyncSession
) -> None:
    created = (await create(client, shop, line_items=[{"price_id": shop.tshirt}], coupon_id=shop.coupon_all)).json()
    assert created["amount_total_atom"] == 0
    path = f"/api/{shop.account_id}/checkout-sessions/{created['id']}"
    added = await client.post(
        f"{path}/line-items", json={"price_id": shop.sticker, "quantity": 3}, headers=bearer(shop.secret)
    )
    assert added.status_code == 201
    assert added.json()["amount_subtotal_atom"] == 1500
    again = (await client.get(path, headers=bearer(shop.secret))).json()
    assert (again["amount_subtotal_atom"], again["amount_discount_atom"], again["amount_total_atom"]) == (3499, 3499, 0)

    euro = await client.post(f"{path}/line-items", json={"price_id": shop.euro}, headers=bearer(shop.secret))
    assert euro.status_code == 422
    assert euro.json()["detail"][0]["loc"] == ["body", "price_id"]

    completed = await client.put(f"{path}/complete", headers=bearer(shop.secret))
    assert completed.status_code == 200, completed.text
    assert completed.json()["state"] == "success"
    assert completed.json()["completed"] is True
    coupon = await session.get(Coupon, shop.coupon_all, populate_existing=True)
    assert coupon is not None
    assert coupon.times_redeemed == 1
    await session.rollback()  # end the read: on SQLite the test's session would hold the write lock

    for method, suffix in (("PUT", "/complete"), ("POST", "/expire")):
        response = await client.request(method, f"{path}{suffix}", headers=bearer(shop.secret))
        assert response.status_code == 409
        assert response.json()["code"] == "checkout_session_completed"


async def test_complete_is_refused_while_payment_is_due(client: httpx.AsyncClient, shop: Shop) -> None:
    created = (await create(client, shop, line_items=[{"price_id": shop.tshirt}])).json()
    response = await client.put(
        f"/api/{shop.account_id}/checkout-sessions/{created['id']}/complete", headers=bearer(shop.secret)
    )
    assert response.status_code == 422
    assert response.json()["code"] == "payment_required"


async def test_a_session_keeps_its_snapshot_when_the_catalog_changes(
    client: httpx.AsyncClient, shop: Shop, session: AsyncSession
) -> None:
    created = (await create(client, shop, line_items=[{"price_id": shop.tshirt}])).json()
    await catalog.update_product(session, shop.account_id, shop.tshirt_product, {"name": "Renamed"})
    await catalog.update_price(session, shop.account_id, shop.tshirt, {"is_active": False})
    await session.commit()
    again = (
        await client.get(f"/api/{shop.account_id}/checkout-sessions/{created['id']}", headers=bearer(shop.secret))
    ).json()
    assert again["line_items"][0]["product_name"] == "T-shirt"
    assert again["amount_total_atom"] == 1999
    refused = await create(client, shop, line_items=[{"price_id": shop.tshirt}])
    assert refused.status_code == 422


async def test_list_filters_sorts_and_searches(
    client: httpx.AsyncClient, shop: Shop, frozen_clock: FrozenClock
) -> None:
    first = (await create(client, shop, line_items=[{"price_id": shop.tshirt}], expires_in_hours=1)).json()
    frozen_clock.advance(timedelta(minutes=1))
    second = (await create(client, shop, line_items=[{"price_id": shop.sticker}])).json()
    frozen_clock.advance(timedelta(minutes=1))
    third = (await create(client, shop, line_items=[{"price_id": shop.free}])).json()
    path = f"/api/{shop.account_id}/checkout-sessions/"
    await client.put(f"{path}{third['id']}/complete", headers=bearer(shop.secret))
    frozen_clock.advance(timedelta(hours=1))

    async def ids(**params: Any) -> list[str]:
        response = await client.get(path, params=params, headers=bearer(shop.secret))
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await ids() == [third["id"], second["id"], first["id"]]
    assert await ids(filter='{"state":"expired"}') == [first["id"]]
    assert await ids(filter='{"state":"open"}') == [second["id"]]
    assert await ids(filter='{"state":"success"}') == [third["id"]]
    assert await ids(sortBy="amount_total_atom", sortOrder=1) == [third["id"], second["id"], first["id"]]
    assert await ids(search=second["id"][3:12]) == [second["id"]]
    page = (await client.get(path, params={"limit": 2, "offset": 2}, headers=bearer(shop.secret))).json()
    assert (page["total"], page["has_more"], len(page["items"])) == (3, False, 1)
    bad = await client.get(path, params={"filter": '{"state":"paid"}'}, headers=bearer(shop.secret))
    assert bad.status_code == 422


async def test_every_change_is_an_event(client: httpx.AsyncClient, shop: Shop, session: AsyncSession) -> None:
    created = (await create(client, shop, line_items=[{"price_id": shop.free}], metadata={"k": "v"})).json()
    path = f"/api/{shop.account_id}/checkout-sessions/{created['id']}"
    await client.post(f"{path}/line-items", json={"price_id": shop.free}, headers=bearer(shop.secret))
    await client.put(f"{path}/complete", headers=bearer(shop.secret))
    events = (await session.scalars(select(Event).where(Event.aggregate_id == created["id"]).order_by(Event.seq))).all()
    assert [e.type for e in events] == [
        "checkout_session.created",
        "checkout_session.updated",
        "checkout_session.completed",
    ]
    assert events[0].data["metadata"] == {"k": "v"}
    assert "url" not in events[0].data
    assert events[2].previous_data is not None
    assert events[2].previous_data["state"] == "open"
