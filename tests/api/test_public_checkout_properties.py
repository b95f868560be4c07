"""Whatever the public checkout API is sent (other scripts' digits, confusables, huge numbers, NULs, deep nesting,
wrong types), on both backends: a 4xx or an answer, never a 5xx, and no NUL ever stored."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout.models import CheckoutSession
from checkstand.core.nul import contains_nul
from checkstand.db import Database
from checkstand.events.models import Event
from checkstand.payments.models import CheckoutAttempt
from tests.hostile_input import hostile_json, hostile_scalar, hostile_text
from tests.payments import flow
from tests.shop import Shop

PROPERTY_SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

cards = st.fixed_dictionaries(
    {},
    optional={"number": hostile_scalar, "exp_month": hostile_scalar, "exp_year": hostile_scalar, "cvc": hostile_scalar},
)
confirmations = st.fixed_dictionaries(
    {
        "payment_method": st.fixed_dictionaries(
            {}, optional={"card": cards | hostile_json, "payment_method_id": hostile_scalar}
        )
    },
    optional={
        "customer": st.fixed_dictionaries({}, optional={"name": hostile_scalar, "email": hostile_scalar})
        | hostile_json,
        "promotion_code": hostile_scalar,
    },
)
plans = st.fixed_dictionaries({}, optional={"line_position": hostile_scalar, "rank": hostile_scalar}) | hostile_json


@pytest.fixture
async def opened(session: AsyncSession, shop: Shop) -> CheckoutSession:
    await flow.simulator(session, shop.account_id)
    return await flow.open_session(session, shop.account_id, [shop.tshirt, shop.monthly])


async def nothing_holds_nul(database: Database) -> None:
    async with database.reading() as fresh:
        for model in (CheckoutAttempt, CheckoutSession, Event):
            for row in (await fresh.scalars(select(model))).all():
                assert not contains_nul([getattr(row, column.key) for column in model.__mapper__.column_attrs])


@PROPERTY_SETTINGS
@given(body=confirmations | hostile_json)
async def test_no_confirmation_is_a_server_error(
    client: httpx.AsyncClient, database: Database, opened: CheckoutSession, body: Any
) -> None:
    answered = await client.post(f"/api/public/checkout/{opened.secure_token}/confirm", json=body)

    assert answered.status_code < 500, (body, answered.text)
    await nothing_holds_nul(database)


@PROPERTY_SETTINGS
@given(body=plans, token=st.just("") | hostile_text)
async def test_no_plan_change_nor_token_is_a_server_error(
    client: httpx.AsyncClient, opened: CheckoutSession, body: Any, token: str
) -> None:
    changed = await client.post(f"/api/public/checkout/{opened.secure_token}/plan", json=body)
    looked_up = await client.get("/api/public/checkout/" + quote(token or "x", safe=""))
    raw = await client.post(
        f"/api/public/checkout/{opened.secure_token}/confirm",
        content=json.dumps(body).encode()[:2000] + b"\x00\xff",
        headers={"Content-Type": "application/json"},
    )

    for answer in (changed, looked_up, raw):
        assert answer.status_code < 500, (body, token, answer.text)
