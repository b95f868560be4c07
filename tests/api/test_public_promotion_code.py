"""The public checkout API's promotion code: applied and removed by the customer's token alone, every amount
re-priced by the server, refused while a payment is in flight. In process, on both backends."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout import service as checkout
from checkstand.db import Database
from checkstand.payments import flow as payment_flow
from checkstand.payments.models import REQUIRES_ACTION
from tests.payments import flow
from tests.shop import Shop


def code_url(token: str) -> str:
    return f"/api/public/checkout/{token}/promotion-code"


async def test_a_code_is_applied_then_removed_and_the_server_reprices_each_time(
    client: httpx.AsyncClient, session: AsyncSession, database: Database, shop: Shop
) -> None:
    opened = await flow.open_session(session, shop.account_id, [shop.tshirt])

    applied = await client.post(code_url(opened.secure_token), json={"promotion_code": f" {shop.percent_code} "})

    assert applied.status_code == 200, applied.text
    view = applied.json()
    assert view["promotion_code"] == shop.percent_code
    assert (view["amount_subtotal_atom"], view["amount_discount_atom"], view["amount_total_atom"]) == (1999, 200, 1799)
    async with database.reading() as fresh:
        assert (await checkout.get_by_token(fresh, opened.secure_token)).amount_total_atom == 1799

    removed = await client.delete(code_url(opened.secure_token))

    assert removed.status_code == 200, removed.text
    view = removed.json()
    assert view["promotion_code"] is None
    assert (view["amount_discount_atom"], view["amount_total_atom"]) == (0, 1999)
    async with database.reading() as fresh:
        stored = await checkout.get_by_token(fresh, opened.secure_token)
        assert (stored.promotion_code, stored.discount, stored.amount_total_atom) == (None, None, 1999)
    # Removing when there is no code changes nothing and still answers the view.
    again = await client.delete(code_url(opened.secure_token))
    assert again.status_code == 200
    assert again.json()["amount_total_atom"] == 1999


async def test_an_unknown_code_or_a_bad_body_is_a_422_naming_the_field_and_changes_nothing(
    client: httpx.AsyncClient, session: AsyncSession, database: Database, shop: Shop
) -> None:
    opened = await flow.open_session(session, shop.account_id, [shop.tshirt])

    unknown = await client.post(code_url(opened.secure_token), json={"promotion_code": "NOSUCHCODE"})
    empty = await client.post(code_url(opened.secure_token), json={"promotion_code": "  "})
    extra = await client.post(code_url(opened.secure_token), json={"promotion_code": "TENOFF", "amount": 1})

    for refused in (unknown, empty):
        assert refused.status_code == 422
        assert [problem["loc"] for problem in refused.json()["detail"]] == [["body", "promotion_code"]]
    assert extra.status_code == 422
    async with database.reading() as fresh:
        stored = await checkout.get_by_token(fresh, opened.secure_token)
        assert (stored.promotion_code, stored.amount_total_atom) == (None, 1999)


async def test_an_unknown_token_is_a_404(client: httpx.AsyncClient) -> None:
    applied = await client.post(code_url("cst_nope"), json={"promotion_code": "TENOFF"})
    removed = await client.delete(code_url("cst_nope"))

    for refused in (applied, removed):
        assert refused.status_code == 404
        assert refused.json()["code"] == "checkout_session_not_found"


async def test_the_code_is_neither_applied_nor_removed_while_a_payment_is_in_flight(
    client: httpx.AsyncClient, session: AsyncSession, database: Database, shop: Shop
) -> None:
    await flow.simulator(session, shop.account_id)
    opened = await flow.open_session(session, shop.account_id, [shop.tshirt])
    assert (await client.post(code_url(opened.secure_token), json={"promotion_code": "TENOFF"})).status_code == 200
    # A 3-D Secure challenge keeps the payment in flight until the customer decides it.
    attempt = await payment_flow.confirm(
        flow.gateway(database), opened.secure_token, flow.paying(flow.card(flow.THREE_DS_CARD))
    )
    assert attempt.state == REQUIRES_ACTION

    removed = await client.delete(code_url(opened.secure_token))
    applied = await client.post(code_url(opened.secure_token), json={"promotion_code": "OTHER"})

    for refused in (removed, applied):
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "checkout_attempt_in_progress"
    async with database.reading() as fresh:
        stored = await checkout.get_by_token(fresh, opened.secure_token)
        assert (stored.promotion_code, stored.amount_total_atom) == ("TENOFF", 1799)
