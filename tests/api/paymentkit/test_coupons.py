"""``coupons/`` in process: the SDK's create parameters, field errors that change nothing, lists, updates, soft
delete, (de)activation, notes, events and tenancy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.catalog import service as catalog
from checkstand.core import clock
from checkstand.core.clock import FrozenClock
from checkstand.db import Database
from checkstand.events.models import Event
from tests.conftest import bearer

Merchant = tuple[str, str]


def iso(moment: datetime) -> str:
    return moment.isoformat()


async def create(client: httpx.AsyncClient, merchant: Merchant, **body: Any) -> httpx.Response:
    account_id, secret = merchant
    return await client.post(f"/api/{account_id}/coupons/", json=body, headers=bearer(secret))


async def listed(client: httpx.AsyncClient, merchant: Merchant, **params: Any) -> dict[str, Any]:
    account_id, secret = merchant
    response = await client.get(f"/api/{account_id}/coupons/", params=params, headers=bearer(secret))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def events_of(database: Database, aggregate_id: str) -> list[Event]:
    """In a reading session of its own: a test's writing session would hold SQLite's write lock."""
    async with database.reading() as reader:
        return list(await reader.scalars(select(Event).where(Event.aggregate_id == aggregate_id).order_by(Event.seq)))


def locs(response: httpx.Response) -> set[tuple[str | int, ...]]:
    assert response.status_code == 422, response.text
    return {tuple(problem["loc"]) for problem in response.json()["detail"]}


async def test_create_each_kind_of_discount(client: httpx.AsyncClient, merchant: Merchant) -> None:
    percent = await create(client, merchant, discount_type="percent_off", percent_off=20, name="Spring")
    assert percent.status_code == 201, percent.text
    body = percent.json()
    assert body["id"].startswith("coupon_")
    assert (body["status"], body["percent_off"], body["percent_off_decimal"], body["duration"]) == (
        "active",
        20,
        "20",
        "once",
    )
    assert (body["redemption_count"], body["products"], body["valid"]) == (0, [], True)

    fraction = await create(client, merchant, discount_type="percent_off", percent_off=12.5, duration="forever")
    assert (fraction.json()["percent_off"], fraction.json()["percent_off_decimal"]) == (None, "12.5")

    amount = await create(
        client,
        merchant,
        discount_type="amount_off",
        amount_atom_off=1500,
        currency="KWD",
        duration="repeating",
        duration_in_months=3,
        max_redemptions=100,
    )
    assert amount.status_code == 201, amount.text
    assert {k: amount.json()[k] for k in ("amount_atom_off", "currency", "duration_in_months", "max_redemptions")} == {
        "amount_atom_off": 1500,
        "currency": "kwd",
        "duration_in_months": 3,
        "max_redemptions": 100,
    }

    trial = await create(client, merchant, discount_type="trial_extension", trial_days_off=14)
    assert trial.json()["trial_days_off"] == 14

    # The SDK's tagged ``discount`` object alone describes the discount as well.
    tagged = await create(
        client, merchant, discount_type="percent_off", discount={"discount_type": "percent_off", "percent_off": 5}
    )
    assert tagged.status_code == 201, tagged.text
    assert tagged.json()["percent_off"] == 5
    assert (await listed(client, merchant))["total"] == 5


async def test_validity_dates(client: httpx.AsyncClient, merchant: Merchant, frozen_clock: FrozenClock) -> None:
    now = clock.now()
    period = await create(client, merchant, discount_type="percent_off", percent_off=10, validity_period_days=30)
    assert datetime.fromisoformat(period.json()["valid_until"]) == now + timedelta(days=30)
    assert period.json()["validity_period_days"] == 30
    window = await create(
        client,
        merchant,
        discount_type="percent_off",
        percent_off=10,
        valid_from=iso(now + timedelta(days=1)),
        valid_until=iso(now + timedelta(days=2)),
    )
    assert window.json()["valid"] is False  # not yet
    frozen_clock.advance(timedelta(days=1))
    account_id, secret = merchant
    again = await client.get(f"/api/{account_id}/coupons/{window.json()['id']}", headers=bearer(secret))
    assert again.json()["valid"] is True


BAD_CREATES: list[tuple[dict[str, Any], set[tuple[str | int, ...]]]] = [
    ({"discount_type": "amount_off", "amount_atom_off": 500}, {("body", "currency")}),
    ({"discount_type": "amount_off", "amount_atom_off": 500, "currency": "ABC"}, {("body", "currency")}),
    ({"discount_type": "percent_off"}, {("body", "percent_off")}),
    ({"discount_type": "percent_off", "percent_off": 0}, {("body", "percent_off")}),
    ({"discount_type": "percent_off", "percent_off": 100.5}, {("body", "percent_off")}),
    ({"discount_type": "percent_off", "percent_off": 12.345}, {("body", "percent_off")}),
    ({"discount_type": "percent_off", "percent_off": 10, "amount_atom_off": 5}, {("body", "amount_atom_off")}),
    ({"discount_type": "percent_off", "percent_off": 10, "currency": "usd"}, {("body", "currency")}),
    ({"discount_type": "trial_extension"}, {("body", "trial_days_off")}),
    ({"discount_type": "bogus"}, {("body", "discount_type")}),
    (
        {"discount_type": "percent_off", "percent_off": 10, "duration": "repeating"},
        {("body", "duration_in_months")},
    ),
    (
        {"discount_type": "percent_off", "percent_off": 10, "duration_in_months": 2},
        {("body", "duration_in_months")},
    ),
    ({"discount_type": "percent_off", "percent_off": 10, "max_redemptions": 0}, {("body", "max_redemptions")}),
    (
        {
            "discount_type": "percent_off",
            "percent_off": 10,
            "valid_until": "2999-01-01T00:00:00Z",
            "validity_period_days": 3,
        },
        {("body", "validity_period_days")},
    ),
    (
        {"discount_type": "percent_off", "percent_off": 10, "valid_until": "2000-01-01T00:00:00Z"},
        {("body", "valid_until")},
    ),
    (
        {"discount_type": "percent_off", "percent_off": 10, "valid_until": "2999-01-01T00:00:00"},
        {("body", "valid_until")},
    ),
    (
        {"discount_type": "percent_off", "percent_off": 10, "product_ids": ["prod_nope"]},
        {("body", "product_ids", 0)},
    ),
    ({"discount_type": "percent_off", "percent_off": 10, "colour": "red"}, {("body", "colour")}),
    (
        {
            "discount_type": "percent_off",
            "percent_off": 10,
            "discount": {"discount_type": "percent_off", "percent_off": 20},
        },
        {("body", "percent_off")},
    ),
    (
        {
            "discount_type": "percent_off",
            "percent_off": 10,
            "discount": {"discount_type": "trial_extension", "trial_days_off": 2},
        },
        {("body", "discount", "discount_type")},
    ),
]


async def test_bad_input_names_the_field_and_changes_nothing(client: httpx.AsyncClient, merchant: Merchant) -> None:
    for body, expected in BAD_CREATES:
        assert locs(await create(client, merchant, **body)) == expected, body
    assert (await listed(client, merchant))["total"] == 0


async def test_products_must_be_the_accounts_own(
    client: httpx.AsyncClient, merchant: Merchant, session: AsyncSession
) -> None:
    account_id, _ = merchant
    shirt = await catalog.create_product(session, account_id, name="Shirt")
    other = await accounts.create_account(session, name="Other")
    theirs = await catalog.create_product(session, other.id, name="Theirs")
    await session.commit()
    refused = await create(
        client, merchant, discount_type="percent_off", percent_off=10, product_ids=[shirt.id, theirs.id]
    )
    assert locs(refused) == {("body", "product_ids", 1)}
    accepted = await create(
        client, merchant, discount_type="percent_off", percent_off=10, product_ids=[shirt.id, shirt.id]
    )
    assert accepted.json()["products"] == [shirt.id]


async def test_list_newest_first_with_filters(
    client: httpx.AsyncClient, merchant: Merchant, frozen_clock: FrozenClock
) -> None:
    ids = []
    for name in ("Alpha", "Beta", "Gamma ray"):
        ids.append(
            (await create(client, merchant, discount_type="percent_off", percent_off=10, name=name)).json()["id"]
        )
        frozen_clock.advance(timedelta(seconds=1))
    account_id, secret = merchant
    await client.post(f"/api/{account_id}/coupons/{ids[1]}/deactivate", headers=bearer(secret))
    await client.delete(f"/api/{account_id}/coupons/{ids[0]}", headers=bearer(secret))

    everything = await listed(client, merchant)
    assert [c["id"] for c in everything["items"]] == [ids[2], ids[1]]
    assert (everything["total"], everything["has_more"]) == (2, False)
    with_deleted = await listed(client, merchant, include_deleted="true", limit=2)
    assert [c["id"] for c in with_deleted["items"]] == [ids[2], ids[1]]
    assert (with_deleted["total"], with_deleted["has_more"]) == (3, True)
    assert [c["id"] for c in (await listed(client, merchant, status="inactive"))["items"]] == [ids[1]]
    assert [c["id"] for c in (await listed(client, merchant, status="deleted"))["items"]] == [ids[0]]
    # Ids are letters and digits only: a space keeps the search from matching one by chance.
    assert [c["id"] for c in (await listed(client, merchant, search="MA RA"))["items"]] == [ids[2]]
    assert [c["id"] for c in (await listed(client, merchant, filter='{"name": "Beta"}'))["items"]] == [ids[1]]
    oldest_first = await listed(client, merchant, sortBy="name", sortOrder=1, include_deleted="true")
    assert [c["name"] for c in oldest_first["items"]] == ["Alpha", "Beta", "Gamma ray"]
    bad = await client.get(f"/api/{account_id}/coupons/", params={"status": "gone"}, headers=bearer(secret))
    assert locs(bad) == {("query", "status")}


async def test_update_and_its_event(client: httpx.AsyncClient, merchant: Merchant, database: Database) -> None:
    account_id, secret = merchant
    coupon = (
        await create(client, merchant, discount_type="percent_off", percent_off=10, metadata={"a": "1", "b": "2"})
    ).json()
    path = f"/api/{account_id}/coupons/{coupon['id']}"
    until = datetime(2999, 1, 1, tzinfo=UTC)
    updated = await client.put(
        path,
        json={"name": "Renamed", "max_redemptions": 5, "valid_until": iso(until), "metadata": {"a": "", "c": "3"}},
        headers=bearer(secret),
    )
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert (body["name"], body["max_redemptions"], body["metadata"]) == ("Renamed", 5, {"b": "2", "c": "3"})
    assert datetime.fromisoformat(body["valid_until"]) == until
    event = next(e for e in await events_of(database, coupon["id"]) if e.type == "coupon.updated")
    assert event.previous_data == {
        "name": None,
        "max_redemptions": None,
        "valid_until": None,
        "metadata": {"a": "1", "b": "2"},
    }
    assert event.data["name"] == "Renamed"
    unknown = await client.put(path, json={"percent_off": 50}, headers=bearer(secret))
    assert locs(unknown) == {("body", "percent_off")}
    cleared = await client.put(path, json={"max_redemptions": None, "metadata": None}, headers=bearer(secret))
    assert (cleared.json()["max_redemptions"], cleared.json()["metadata"]) == (None, {})


async def test_limit_below_uses_is_refused(client: httpx.AsyncClient, merchant: Merchant) -> None:
    account_id, secret = merchant
    coupon = (await create(client, merchant, discount_type="percent_off", percent_off=10)).json()
    await client.post(
        f"/api/{account_id}/promotion-codes/", json={"coupon_id": coupon["id"], "code": "USED"}, headers=bearer(secret)
    )
    for _ in range(2):
        redeemed = await client.post(
            f"/api/{account_id}/promotion-codes/redeem", json={"code": "used"}, headers=bearer(secret)
        )
        assert redeemed.status_code == 200, redeemed.text
    path = f"/api/{account_id}/coupons/{coupon['id']}"
    assert locs(await client.put(path, json={"max_redemptions": 1}, headers=bearer(secret))) == {
        ("body", "max_redemptions")
    }
    assert (await client.put(path, json={"max_redemptions": 2}, headers=bearer(secret))).json()["valid"] is False


async def test_activate_deactivate_delete(client: httpx.AsyncClient, merchant: Merchant, database: Database) -> None:
    account_id, secret = merchant
    coupon = (await create(client, merchant, discount_type="percent_off", percent_off=10)).json()
    path = f"/api/{account_id}/coupons/{coupon['id']}"
    off = await client.post(f"{path}/deactivate", headers=bearer(secret))
    assert (off.json()["status"], off.json()["valid"]) == ("inactive", False)
    on = await client.post(f"{path}/activate", headers=bearer(secret))
    assert on.json()["status"] == "active"
    assert (await client.post(f"{path}/activate", headers=bearer(secret))).status_code == 200

    deleted = await client.delete(path, headers=bearer(secret))
    assert deleted.status_code == 200
    assert deleted.json()["status"] == "deleted"
    assert deleted.json()["deleted_at"] is not None
    assert (await client.get(path, headers=bearer(secret))).json()["status"] == "deleted"
    for attempt in (
        await client.post(f"{path}/activate", headers=bearer(secret)),
        await client.put(path, json={"name": "x"}, headers=bearer(secret)),
    ):
        assert attempt.status_code == 409
        assert attempt.json()["code"] == "coupon_deleted"
    types = [event.type for event in await events_of(database, coupon["id"])]
    # The second activate changed nothing, so announced nothing.
    assert types == ["coupon.created", "coupon.updated", "coupon.updated", "coupon.deleted"]


async def test_notes(client: httpx.AsyncClient, merchant: Merchant) -> None:
    account_id, secret = merchant
    coupon = (await create(client, merchant, discount_type="percent_off", percent_off=10)).json()
    path = f"/api/{account_id}/coupons/{coupon['id']}/notes"
    note = await client.post(path, json={"content": "For the spring newsletter"}, headers=bearer(secret))
    assert note.status_code == 201, note.text
    assert (note.json()["content"], note.json()["created_by_type"]) == ("For the spring newsletter", "api_key")
    notes = (await client.get(path, headers=bearer(secret))).json()
    assert (notes["coupon_id"], notes["total_count"], notes["notes"][0]["id"]) == (coupon["id"], 1, note.json()["id"])
    assert (await client.delete(f"{path}/{note.json()['id']}", headers=bearer(secret))).status_code == 204
    assert (await client.get(path, headers=bearer(secret))).json()["total_count"] == 0
    assert (await client.delete(f"{path}/{note.json()['id']}", headers=bearer(secret))).status_code == 404


async def test_another_accounts_coupon_is_not_found(
    client: httpx.AsyncClient, merchant: Merchant, session: AsyncSession
) -> None:
    other = await accounts.create_account(session, name="Other")
    other_key = await accounts.create_api_key(session, other)
    await session.commit()
    theirs = (await create(client, (other.id, other_key.secret), discount_type="percent_off", percent_off=10)).json()
    account_id, secret = merchant
    path = f"/api/{account_id}/coupons/{theirs['id']}"
    for response in (
        await client.get(path, headers=bearer(secret)),
        await client.put(path, json={"name": "mine"}, headers=bearer(secret)),
        await client.delete(path, headers=bearer(secret)),
        await client.post(f"{path}/deactivate", headers=bearer(secret)),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "coupon_not_found"
    assert (await listed(client, merchant))["total"] == 0
