"""The ``payment-kit`` SDK's payment links against a real server: every call with every field, the refusals, and
the link's public URL, where each visit opens a session of its own that a customer pays through the public checkout
API; a deactivated link, a HEAD and a prefetch open nothing, and a burst of visits from one address stops at the
limit."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest
from payment_kit import PaymentKit
from payment_kit.core.api_error import ApiError
from payment_kit.errors.unprocessable_entity_error import UnprocessableEntityError
from payment_kit.types import PaymentLinkLineItemCreate

from tests.conftest import bearer
from tests.payments import flow
from tests.support import Server

# The server's default CHECKSTAND_PAYMENT_LINK_MAX_VISITS_PER_IP: every test visits from 127.0.0.1.
MAX_VISITS_PER_IP = 20


@dataclass
class Shop:
    client: PaymentKit
    http: httpx.Client
    account_id: str
    price_id: str
    monthly_price_id: str

    def sessions_of(self, link_id: str) -> list[dict[str, object]]:
        response = self.http.get(
            f"/api/{self.account_id}/payment-links/{link_id}/checkout-sessions", params={"limit": 100}
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, object]] = response.json()["items"]
        assert response.json()["total"] == len(items)
        return items


@pytest.fixture
def shop(server: Server) -> Iterator[Shop]:
    account_id, secret = server.new_account()
    client = PaymentKit(base_url=server.base_url, token=secret, timeout=30)
    with httpx.Client(base_url=server.base_url, headers=bearer(secret), timeout=30) as http:
        connected = http.post(f"/api/{account_id}/processors/", json={"name": "Sim", "type": "simulator"})
        assert connected.status_code == 201, connected.text
        product = client.products.create_product(account_id, name="Poster")
        price = client.prices.create_price(account_id, product_id=product.id, currency="usd", unit_amount_atom=1500)
        monthly = client.prices.create_price(
            account_id, product_id=product.id, currency="usd", unit_amount_atom=900, recurring_interval="month"
        )
        yield Shop(client, http, account_id, price.id, monthly.id)


def visit(server: Server, url: str, **headers: str) -> httpx.Response:
    path = url[url.index("/l/") :]
    return httpx.get(f"{server.base_url}{path}", headers=headers, follow_redirects=False, timeout=30)


def pay(server: Server, checkout_path: str) -> dict[str, object]:
    token = checkout_path.removeprefix("/c/")
    confirmed = httpx.post(
        f"{server.base_url}/api/public/checkout/{token}/confirm",
        json={
            "payment_method": {"card": {"number": flow.GOOD_CARD, "exp_month": 12, "exp_year": 2099, "cvc": "123"}},
            "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
        },
        timeout=30,
    )
    assert confirmed.status_code == 200, confirmed.text
    body: dict[str, object] = confirmed.json()
    assert body["state"] == "succeeded", confirmed.text
    return body


def test_every_call_and_field_through_the_sdk(shop: Shop) -> None:
    client, account_id = shop.client, shop.account_id
    link = client.payment_links.create_payment_link(
        account_id,
        name="Spring poster",
        mode="payment",
        success_url="https://shop.example/thanks?session={CHECKOUT_SESSION_ID}",
        return_url="https://shop.example/posters",
        expires_in_hours=2,
        line_items=[PaymentLinkLineItemCreate(price_id=shop.price_id, quantity=3, description="A3, matte")],
        metadata={"campaign": "spring"},
    )
    assert link.id.startswith("plink_")
    assert link.url.endswith(f"/l/{link.secure_token}")
    assert (link.name, link.mode, link.customer_id, link.is_active) == ("Spring poster", "payment", None, True)
    assert (link.success_url, link.return_url, link.expires_in_hours) == (
        "https://shop.example/thanks?session={CHECKOUT_SESSION_ID}",
        "https://shop.example/posters",
        2,
    )
    assert link.metadata == {"campaign": "spring"}
    assert link.line_items is not None
    [line] = link.line_items
    assert (line.price_id, line.quantity, line.description) == (shop.price_id, 3, "A3, matte")

    assert client.payment_links.get_payment_link(account_id, link.id) == link
    subscription = client.payment_links.create_payment_link(
        account_id,
        success_url="https://shop.example/welcome",
        line_items=[PaymentLinkLineItemCreate(price_id=shop.monthly_price_id)],
    )
    assert (subscription.mode, subscription.expires_in_hours, subscription.return_url) == ("subscription", 24, None)
    assert subscription.line_items is not None
    assert subscription.line_items[0].quantity == 1

    listed = client.payment_links.list_payment_links(account_id)
    assert [item.id for item in listed.items] == [subscription.id, link.id]
    assert (listed.total, listed.has_more) == (2, False)
    paged = client.payment_links.list_payment_links(account_id, limit=1, offset=1)
    assert ([item.id for item in paged.items], paged.has_more) == ([link.id], False)
    only = client.payment_links.list_payment_links(account_id, filter='{"mode": "subscription"}')
    assert [item.id for item in only.items] == [subscription.id]
    found = client.payment_links.list_payment_links(account_id, search="spring")
    assert [item.id for item in found.items] == [link.id]

    updated = client.payment_links.update_payment_link(
        account_id,
        link.id,
        name="Summer poster",
        success_url="https://shop.example/merci",
        return_url="https://shop.example/back",
        metadata={"campaign": "summer", "wave": "2"},
    )
    assert (updated.name, updated.success_url, updated.return_url) == (
        "Summer poster",
        "https://shop.example/merci",
        "https://shop.example/back",
    )
    assert updated.metadata == {"campaign": "summer", "wave": "2"}
    assert updated.line_items == link.line_items

    client.payment_links.deactivate_payment_link(account_id, link.id)
    assert client.payment_links.get_payment_link(account_id, link.id).is_active is False
    assert client.payment_links.list_payment_links(account_id, filter='{"is_active": false}').total == 1
    reactivated = client.payment_links.update_payment_link(account_id, link.id, is_active=True)
    assert reactivated.is_active is True


def test_refusals_name_the_field_and_store_nothing(shop: Shop) -> None:
    client, account_id = shop.client, shop.account_id

    def refused(**fields: object) -> list[tuple[str, ...]]:
        arguments: dict[str, object] = {
            "success_url": "https://shop.example/ok",
            "line_items": [PaymentLinkLineItemCreate(price_id=shop.price_id)],
            **fields,
        }
        with pytest.raises(UnprocessableEntityError) as error:
            client.payment_links.create_payment_link(account_id, **arguments)  # type: ignore[arg-type]
        return [tuple(str(part) for part in problem.loc) for problem in error.value.body.detail or []]

    assert ("body", "line_items", "0", "price_id") in refused(
        line_items=[PaymentLinkLineItemCreate(price_id="price_missing")]
    )
    assert ("body", "success_url") in refused(success_url="javascript:alert(1)")
    assert ("body", "return_url") in refused(return_url="https://user:pw@shop.example/")
    assert ("body", "mode") in refused(mode="subscription")
    assert ("body", "customer_id") in refused(customer_id="cus_missing")
    assert ("body", "line_items") in refused(line_items=[])
    assert ("body", "expires_in_hours") in refused(expires_in_hours=0)
    assert client.payment_links.list_payment_links(account_id).total == 0

    with pytest.raises(ApiError) as missing:
        client.payment_links.get_payment_link(account_id, "plink_missing")
    assert missing.value.status_code == 404
    with pytest.raises(ApiError) as missing:
        client.payment_links.deactivate_payment_link(account_id, "plink_missing")
    assert missing.value.status_code == 404


def test_each_visit_is_a_session_of_its_own_and_both_are_paid(server: Server, shop: Shop) -> None:
    link = shop.client.payment_links.create_payment_link(
        shop.account_id,
        success_url="https://shop.example/thanks",
        line_items=[PaymentLinkLineItemCreate(price_id=shop.price_id, quantity=2)],
        metadata={"campaign": "spring"},
    )
    first, second = visit(server, link.url), visit(server, link.url)
    assert (first.status_code, second.status_code) == (303, 303)
    assert first.headers["location"].startswith("/c/")
    assert first.headers["location"] != second.headers["location"]
    assert first.headers["cache-control"] == "no-store"
    page = httpx.get(f"{server.base_url}{first.headers['location']}", timeout=30)
    assert page.status_code == 200
    assert "$30.00" in page.text

    paid = [pay(server, first.headers["location"]), pay(server, second.headers["location"])]
    sessions = shop.sessions_of(link.id)
    assert len(sessions) == 2
    assert {s["state"] for s in sessions} == {"success"}
    assert {s["amount_total_atom"] for s in sessions} == {3000}
    assert all(s["metadata"] == {"campaign": "spring"} and s["return_url"] == "https://shop.example" for s in sessions)
    payments = shop.http.get(f"/api/{shop.account_id}/payments/intents/").json()["items"]
    assert sorted(p["checkout_session_id"] for p in payments) == sorted(str(s["id"]) for s in sessions)
    assert len({str(p["id"]) for p in paid}) == 2


def test_a_deactivated_link_opens_no_session(server: Server, shop: Shop) -> None:
    link = shop.client.payment_links.create_payment_link(
        shop.account_id,
        success_url="https://shop.example/thanks",
        line_items=[PaymentLinkLineItemCreate(price_id=shop.price_id)],
    )
    shop.client.payment_links.deactivate_payment_link(shop.account_id, link.id)
    refused = visit(server, link.url)
    assert refused.status_code == 410
    assert "no longer available" in refused.text
    assert shop.sessions_of(link.id) == []
    assert visit(server, link.url.replace(link.secure_token, "plt_unknown")).status_code == 404


def test_a_head_or_a_prefetch_opens_no_session(server: Server, shop: Shop) -> None:
    link = shop.client.payment_links.create_payment_link(
        shop.account_id,
        success_url="https://shop.example/thanks",
        line_items=[PaymentLinkLineItemCreate(price_id=shop.price_id)],
    )
    path = link.url[link.url.index("/l/") :]
    head = httpx.head(f"{server.base_url}{path}", timeout=30)
    assert head.status_code == 200
    assert visit(server, link.url, **{"Sec-Purpose": "prefetch"}).status_code == 503
    assert visit(server, link.url, **{"Sec-Purpose": "prefetch;prerender"}).status_code == 503
    assert visit(server, link.url, Purpose="prefetch").status_code == 503
    assert shop.sessions_of(link.id) == []
    assert visit(server, link.url).status_code == 303
    assert len(shop.sessions_of(link.id)) == 1


def test_a_burst_of_visits_from_one_address_stops_at_the_limit(server: Server, shop: Shop) -> None:
    link = shop.client.payment_links.create_payment_link(
        shop.account_id,
        success_url="https://shop.example/thanks",
        line_items=[PaymentLinkLineItemCreate(price_id=shop.price_id)],
    )
    visits = MAX_VISITS_PER_IP + 10
    start = threading.Barrier(visits)

    def one(_: int) -> int:
        start.wait()
        return visit(server, link.url).status_code

    with ThreadPoolExecutor(visits) as pool:
        statuses = list(pool.map(one, range(visits)))
    assert sorted(statuses) == [303] * MAX_VISITS_PER_IP + [429] * 10
    assert len(shop.sessions_of(link.id)) == MAX_VISITS_PER_IP
    assert visit(server, link.url).status_code == 429
