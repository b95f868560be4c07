"""``promotion-codes/`` in process, and two true races against a real server: one code text, many creators; one
code with k uses left, many redeemers."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.core import clock
from checkstand.core.clock import FrozenClock
from tests.conftest import bearer
from tests.support import Server

Merchant = tuple[str, str]


class Api:
    """The merchant's calls, in process."""

    def __init__(self, client: httpx.AsyncClient, merchant: Merchant) -> None:
        self.client = client
        self.account_id, secret = merchant
        self.headers = bearer(secret)

    async def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return await self.client.post(f"/api/{self.account_id}/{path}", json=body, headers=self.headers)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(f"/api/{self.account_id}/{path}", params=params, headers=self.headers)

    async def put(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return await self.client.put(f"/api/{self.account_id}/{path}", json=body, headers=self.headers)

    async def delete(self, path: str) -> httpx.Response:
        return await self.client.delete(f"/api/{self.account_id}/{path}", headers=self.headers)

    async def coupon(self, **body: Any) -> str:
        response = await self.post("coupons/", {"discount_type": "percent_off", "percent_off": 10, **body})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def code(self, coupon_id: str, code: str, **body: Any) -> dict[str, Any]:
        response = await self.post("promotion-codes/", {"coupon_id": coupon_id, "code": code, **body})
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created


def locs(response: httpx.Response) -> set[tuple[str | int, ...]]:
    assert response.status_code == 422, response.text
    return {tuple(problem["loc"]) for problem in response.json()["detail"]}


async def test_create_and_read(client: httpx.AsyncClient, merchant: Merchant) -> None:
    api = Api(client, merchant)
    coupon_id = await api.coupon()
    code = await api.code(
        coupon_id,
        "Spring-10",
        max_redemptions=50,
        restrictions={"first_time_transaction": True, "minimum_amount": 25.5, "minimum_amount_currency": "usd"},
        metadata={"campaign": "spring"},
    )
    assert code["id"].startswith("promo_")
    assert (code["code"], code["active"], code["times_redeemed"], code["max_redemptions"]) == ("Spring-10", True, 0, 50)
    assert code["restrictions"] == {
        "first_time_transaction": True,
        "minimum_amount": "25.50",
        "minimum_amount_currency": "usd",
        "minimum_amount_atom": 2550,
    }
    assert (await api.get(f"promotion-codes/{code['id']}")).json() == code


async def test_a_code_is_unique_in_the_account_whatever_its_case(client: httpx.AsyncClient, merchant: Merchant) -> None:
    api = Api(client, merchant)
    coupon_id = await api.coupon()
    first = await api.code(coupon_id, "summer")
    taken = await api.post("promotion-codes/", {"coupon_id": coupon_id, "code": "SUMMER"})
    assert taken.status_code == 409
    assert taken.json()["code"] == "promotion_code_taken"
    # Deleting a code frees its text.
    assert (await api.delete(f"promotion-codes/{first['id']}")).status_code == 200
    assert (await api.get(f"promotion-codes/{first['id']}")).status_code == 404
    again = await api.code(coupon_id, "Summer")
    assert again["id"] != first["id"]


async def test_bad_input_names_the_field_and_changes_nothing(client: httpx.AsyncClient, merchant: Merchant) -> None:
    api = Api(client, merchant)
    coupon_id = await api.coupon()
    euro_off = await api.coupon(discount_type="amount_off", percent_off=None, amount_atom_off=500, currency="eur")
    past = (clock.now() - timedelta(days=1)).isoformat()
    cases: list[tuple[dict[str, Any], set[tuple[str | int, ...]]]] = [
        ({"coupon_id": "coupon_nope", "code": "A"}, {("body", "coupon_id")}),
        ({"coupon_id": coupon_id, "code": "no spaces"}, {("body", "code")}),
        ({"coupon_id": coupon_id, "code": "X" * 65}, {("body", "code")}),
        ({"coupon_id": coupon_id, "code": "A", "expires_at": past}, {("body", "expires_at")}),
        ({"coupon_id": coupon_id, "code": "A", "max_redemptions": 0}, {("body", "max_redemptions")}),
        (
            {"coupon_id": coupon_id, "code": "A", "restrictions": {"minimum_amount": 10}},
            {("body", "restrictions", "minimum_amount_currency")},
        ),
        (
            {
                "coupon_id": coupon_id,
                "code": "A",
                "restrictions": {"minimum_amount": 10.001, "minimum_amount_currency": "usd"},
            },
            {("body", "restrictions", "minimum_amount")},
        ),
        (
            {
                "coupon_id": coupon_id,
                "code": "A",
                "restrictions": {"minimum_amount": 1.5, "minimum_amount_currency": "jpy"},
            },
            {("body", "restrictions", "minimum_amount")},
        ),
        (
            {
                "coupon_id": euro_off,
                "code": "A",
                "restrictions": {"minimum_amount": 10, "minimum_amount_currency": "usd"},
            },
            {("body", "restrictions", "minimum_amount_currency")},
        ),
        (
            {"coupon_id": coupon_id, "code": "A", "restrictions": {"first_time": True}},
            {("body", "restrictions", "first_time")},
        ),
    ]
    for body, expected in cases:
        assert locs(await api.post("promotion-codes/", body)) == expected, body
    assert (await api.get("promotion-codes/")).json()["total"] == 0


async def test_list_filters(client: httpx.AsyncClient, merchant: Merchant, frozen_clock: FrozenClock) -> None:
    api = Api(client, merchant)
    spring, summer = await api.coupon(), await api.coupon()
    made = []
    for coupon_id, text in ((spring, "SPRING-1"), (spring, "Spring-2"), (summer, "SUMMER-1")):
        made.append((await api.code(coupon_id, text))["id"])
        frozen_clock.advance(timedelta(seconds=1))
    await api.put(f"promotion-codes/{made[1]}", {"active": False})
    page = (await api.get("promotion-codes/")).json()
    assert ([c["id"] for c in page["items"]], page["total"], page["has_more"]) == (made[::-1], 3, False)
    assert [c["id"] for c in (await api.get("promotion-codes/", coupon_id=spring)).json()["items"]] == [
        made[1],
        made[0],
    ]
    assert [c["id"] for c in (await api.get("promotion-codes/", active_only="true")).json()["items"]] == [
        made[2],
        made[0],
    ]
    # Ids are letters and digits only: the dash keeps the search from matching one by chance.
    searched = await api.get("promotion-codes/", search="spring-", sortBy="code", sortOrder=1)
    assert [c["code"] for c in searched.json()["items"]] == ["SPRING-1", "Spring-2"]
    assert (await api.get("promotion-codes/", limit=1)).json()["has_more"] is True


async def test_update(client: httpx.AsyncClient, merchant: Merchant) -> None:
    api = Api(client, merchant)
    code = await api.code(await api.coupon(), "UPD", metadata={"a": "1"})
    path = f"promotion-codes/{code['id']}"
    expires = (clock.now() + timedelta(days=3)).isoformat()
    updated = await api.put(
        path, {"active": False, "max_redemptions": 3, "expires_at": expires, "metadata": {"b": "2"}}
    )
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert (body["active"], body["max_redemptions"], body["metadata"]) == (False, 3, {"a": "1", "b": "2"})
    assert locs(await api.put(path, {"active": None})) == {("body", "active")}
    assert locs(await api.put(path, {"code": "NEW"})) == {("body", "code")}


async def test_validate(client: httpx.AsyncClient, merchant: Merchant, frozen_clock: FrozenClock) -> None:
    api = Api(client, merchant)
    code = await api.code(
        await api.coupon(percent_off=12.5),
        "VALID",
        expires_at=(clock.now() + timedelta(hours=1)).isoformat(),
        restrictions={"minimum_amount": 10, "minimum_amount_currency": "usd"},
    )
    ok = (
        await api.post("promotion-codes/validate", {"code": "valid", "order_amount": 19.99, "order_currency": "usd"})
    ).json()
    assert (ok["valid"], ok["error"], ok["promotion_code"]["id"], ok["discount_atom"]) == (True, None, code["id"], 250)
    small = (
        await api.post("promotion-codes/validate", {"code": "VALID", "order_amount": 9.99, "order_currency": "usd"})
    ).json()
    assert (small["valid"], small["error_code"], small["promotion_code"]["id"]) == (
        False,
        "promotion_code_minimum_not_met",
        code["id"],
    )
    assert "$10.00" in small["error"]
    missing = (await api.post("promotion-codes/validate", {"code": "NOPE"})).json()
    assert (missing["valid"], missing["error_code"], missing["promotion_code"]) == (
        False,
        "promotion_code_not_found",
        None,
    )
    frozen_clock.advance(timedelta(hours=1))
    late = (
        await api.post("promotion-codes/validate", {"code": "VALID", "order_amount": 50, "order_currency": "usd"})
    ).json()
    assert (late["valid"], late["error_code"]) == (False, "promotion_code_expired")
    assert (await api.get(f"promotion-codes/{code['id']}")).json()["times_redeemed"] == 0

    assert locs(await api.post("promotion-codes/validate", {"code": "VALID", "order_amount": 5})) == {
        ("body", "order_currency")
    }
    assert locs(
        await api.post("promotion-codes/validate", {"code": "V", "order_amount": 5.5, "order_currency": "jpy"})
    ) == {("body", "order_amount")}
    assert locs(await api.post("promotion-codes/validate", {"code": "V", "coupon": "x"})) == {("body", "coupon")}
    assert locs(await api.post("promotion-codes/redeem", {"code": "VALID", "customer_id": "cus_nope"})) == {
        ("body", "customer_id")
    }


async def test_redeem(client: httpx.AsyncClient, merchant: Merchant) -> None:
    api = Api(client, merchant)
    coupon_id = await api.coupon(discount_type="amount_off", percent_off=None, amount_atom_off=500, currency="jpy")
    code = await api.code(coupon_id, "TWO", max_redemptions=2)
    first = await api.post("promotion-codes/redeem", {"code": "two", "order_amount": 300, "order_currency": "jpy"})
    assert first.status_code == 200, first.text
    assert first.json()["times_redeemed"] == 1
    assert {
        k: first.json()["redemption"][k] for k in ("coupon_id", "promotion_code_id", "amount_atom", "currency")
    } == {
        "coupon_id": coupon_id,
        "promotion_code_id": code["id"],
        "amount_atom": 300,  # never more than the order
        "currency": "jpy",
    }
    wrong = await api.post("promotion-codes/redeem", {"code": "two", "order_amount": 3, "order_currency": "usd"})
    assert (wrong.status_code, wrong.json()["code"]) == (422, "coupon_currency_mismatch")
    assert (await api.post("promotion-codes/redeem", {"code": "TWO"})).status_code == 200
    spent = await api.post("promotion-codes/redeem", {"code": "TWO"})
    assert (spent.status_code, spent.json()["code"]) == (422, "promotion_code_exhausted")
    assert (await api.get(f"coupons/{coupon_id}")).json()["redemption_count"] == 2
    unknown = await api.post("promotion-codes/redeem", {"code": "NOPE"})
    assert (unknown.status_code, unknown.json()["code"]) == (422, "promotion_code_not_found")


async def test_another_accounts_code_is_not_found(
    client: httpx.AsyncClient, merchant: Merchant, session: AsyncSession
) -> None:
    other = await accounts.create_account(session, name="Other")
    other_key = await accounts.create_api_key(session, other)
    await session.commit()
    theirs = Api(client, (other.id, other_key.secret))
    code = await theirs.code(await theirs.coupon(), "THEIRS")
    mine = Api(client, merchant)
    for response in (
        await mine.get(f"promotion-codes/{code['id']}"),
        await mine.put(f"promotion-codes/{code['id']}", {"active": False}),
        await mine.delete(f"promotion-codes/{code['id']}"),
    ):
        assert (response.status_code, response.json()["code"]) == (404, "promotion_code_not_found")
    assert (await mine.post("promotion-codes/redeem", {"code": "THEIRS"})).json()["code"] == "promotion_code_not_found"
    assert locs(await mine.post("promotion-codes/", {"coupon_id": code["coupon_id"], "code": "MINE"})) == {
        ("body", "coupon_id")
    }


def _race(count: int, send: Any) -> list[httpx.Response]:
    barrier = threading.Barrier(count)

    def one(index: int) -> httpx.Response:
        with httpx.Client(timeout=60) as http:
            barrier.wait()
            response: httpx.Response = send(http, index)
            return response

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def test_concurrent_redemptions_give_exactly_the_uses_left(server: Server) -> None:
    """Twelve buyers redeem a code with five uses left at the same moment: five succeed, seven are told it is used
    up, and the counts of the code and its coupon are exactly five."""
    account_id, secret = server.new_account()
    base = f"{server.base_url}/api/{account_id}"
    headers = bearer(secret)
    coupon = httpx.post(f"{base}/coupons/", json={"discount_type": "percent_off", "percent_off": 10}, headers=headers)
    code = httpx.post(
        f"{base}/promotion-codes/",
        json={"coupon_id": coupon.json()["id"], "code": "FIVE", "max_redemptions": 5},
        headers=headers,
    ).json()

    responses = _race(
        12, lambda http, _: http.post(f"{base}/promotion-codes/redeem", json={"code": "five"}, headers=headers)
    )

    assert sorted(r.status_code for r in responses) == [200] * 5 + [422] * 7
    assert {r.json()["code"] for r in responses if r.status_code == 422} == {"promotion_code_exhausted"}
    assert httpx.get(f"{base}/promotion-codes/{code['id']}", headers=headers).json()["times_redeemed"] == 5
    assert httpx.get(f"{base}/coupons/{coupon.json()['id']}", headers=headers).json()["redemption_count"] == 5


def test_concurrent_creates_of_one_code_make_one(server: Server) -> None:
    account_id, secret = server.new_account()
    base = f"{server.base_url}/api/{account_id}"
    headers = bearer(secret)
    coupon = httpx.post(f"{base}/coupons/", json={"discount_type": "percent_off", "percent_off": 10}, headers=headers)
    spellings = ["launch", "LAUNCH", "Launch", "lAuNcH"]

    responses = _race(
        8,
        lambda http, i: http.post(
            f"{base}/promotion-codes/",
            json={"coupon_id": coupon.json()["id"], "code": spellings[i % 4]},
            headers=headers,
        ),
    )

    assert sorted(r.status_code for r in responses) == [201] + [409] * 7
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"promotion_code_taken"}
    assert httpx.get(f"{base}/promotion-codes/", headers=headers).json()["total"] == 1
