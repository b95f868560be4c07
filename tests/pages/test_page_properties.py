"""Whatever a hosted page's form carries (other scripts' digits, confusables, huge numbers, NULs, brackets), on both
backends: the answer is a page or a refusal, never a 5xx, and no NUL is ever stored."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.app import create_app
from checkstand.checkout.models import CheckoutSession
from checkstand.core.nul import contains_nul
from checkstand.db import Database
from checkstand.events.models import Event
from checkstand.payments.models import CheckoutAttempt
from checkstand.settings import Settings
from tests.hostile_input import hostile_text
from tests.payments import flow
from tests.shop import Shop

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
FIELDS = ("name", "email", "card_number", "exp_month", "exp_year", "cvc", "promotion_code", "plan")


@pytest.fixture
async def browser(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, database=database)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=settings.resolved_public_url) as http:
        yield http


@pytest.fixture
async def opened(session: AsyncSession, shop: Shop) -> CheckoutSession:
    await flow.simulator(session, shop.account_id)
    return await flow.open_session(session, shop.account_id, [shop.tshirt, shop.monthly])


posts = st.fixed_dictionaries(
    {"action": st.sampled_from(["pay", "apply", "plan", ""]) | hostile_text},
    optional={field: hostile_text for field in FIELDS},
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(form=posts)
async def test_no_form_post_is_a_server_error(
    browser: httpx.AsyncClient, database: Database, opened: CheckoutSession, form: dict[str, str]
) -> None:
    page = await browser.get(f"/c/{opened.secure_token}")
    found = CSRF.search(page.text)
    token = found.group(1) if found else ""

    answered = await browser.post(f"/c/{opened.secure_token}", data={"csrf_token": token, **form})

    assert answered.status_code < 500, (form, answered.text)
    async with database.reading() as fresh:
        for model in (CheckoutAttempt, CheckoutSession, Event):
            for row in (await fresh.scalars(select(model))).all():
                assert not contains_nul([getattr(row, column.key) for column in model.__mapper__.column_attrs])
