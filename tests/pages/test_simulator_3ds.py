"""The simulator's 3-D Secure page: a customer approves or fails a charge, once, from the page they were sent to."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.app import create_app
from checkstand.core.crypto import SecretBox
from checkstand.db import Database
from checkstand.pages import simulator_3ds
from checkstand.processors import connections
from checkstand.processors.base import (
    CardDetails,
    ChargeRequest,
    ChargeResult,
    DeclineCode,
    Outcome,
    PaymentMethod,
    customer_message,
)
from checkstand.processors.models import Processor
from checkstand.processors.simulator import SimulatorProcessor
from checkstand.settings import Settings

BOX = SecretBox("test-at-rest-key")
THREE_DS_CARD = PaymentMethod(card=CardDetails("4000002760003184", exp_month=12, exp_year=2099, cvc="123"))
RETURN_URL = "https://shop.test/checkout/return?attempt=1"
MERCHANT = "Corner <Shop> & Co"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class Challenge:
    processor: Processor
    charge: ChargeResult
    path: str

    async def confirm(self, database: Database, settings: Settings) -> ChargeResult:
        """What the payment flow learns, from a session of its own."""
        assert self.charge.processor_reference is not None
        adapter = SimulatorProcessor(database, self.processor, public_url=settings.resolved_public_url)
        return await adapter.confirm(self.charge.processor_reference)


@pytest.fixture
async def browser(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The app in process, with the challenge pages whether or not ``app.py`` lists them yet."""
    app = create_app(settings, database=database)
    paths = {route.path for route in app.routes if isinstance(route, APIRoute)}
    if "/simulator/3ds/{token}" not in paths:
        app.include_router(simulator_3ds.router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=settings.resolved_public_url) as http:
        yield http


async def start_challenge(
    session: AsyncSession,
    database: Database,
    settings: Settings,
    *,
    amount_atom: int = 1234,
    currency: str = "usd",
    return_url: str | None = RETURN_URL,
) -> Challenge:
    account = await accounts.create_account(session, name=MERCHANT)
    processor = await connections.create_processor(session, account.id, BOX, name="Sim", type="simulator")
    await session.commit()
    adapter = SimulatorProcessor(database, processor, public_url=settings.resolved_public_url)
    charge = await adapter.charge(
        ChargeRequest(
            idempotency_key="attempt-1",
            amount_atom=amount_atom,
            currency=currency,
            payment_method=THREE_DS_CARD,
            return_url=return_url,
        )
    )
    assert charge.outcome is Outcome.REQUIRES_ACTION
    assert charge.action_url is not None
    assert charge.action_url.startswith(settings.resolved_public_url)
    return Challenge(processor, charge, charge.action_url.removeprefix(settings.resolved_public_url))


@pytest.fixture
async def challenge(session: AsyncSession, database: Database, settings: Settings) -> Challenge:
    return await start_challenge(session, database, settings)


def sends_back(answered: httpx.Response) -> bool:
    """Whether the decided page refreshes to the return URL (escaped in the attribute, as Jinja writes it)."""
    escaped = RETURN_URL.replace("&", "&amp;")
    return f'<meta http-equiv="refresh" content="0; url={escaped}">' in answered.text


async def csrf_token(browser: httpx.AsyncClient, path: str) -> str:
    page = await browser.get(path)
    found = CSRF.search(page.text)
    assert found is not None, page.text
    return found.group(1)


def assert_locked_down(response: httpx.Response, form_action: str = "'self' https://shop.test") -> None:
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert f"form-action {form_action};" in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    ("amount_atom", "currency", "shown"), [(1234, "usd", "$12.34"), (1234, "jpy", "¥1,234"), (1234, "kwd", "KWD1.234")]
)
async def test_the_page_shows_the_amount_and_merchant_and_asks(
    database: Database,
    browser: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    amount_atom: int,
    currency: str,
    shown: str,
) -> None:
    challenge = await start_challenge(session, database, settings, amount_atom=amount_atom, currency=currency)
    page = await browser.get(challenge.path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert shown in page.text
    assert "Corner &lt;Shop&gt; &amp; Co" in page.text  # escaped, never markup
    assert "ending in 3184" in page.text
    assert '<form method="post">' in page.text
    assert re.search(r'<button type="submit"[^>]*name="decision" value="approve">Approve</button>', page.text)
    assert re.search(r'<button type="submit"[^>]*name="decision" value="fail">Fail</button>', page.text)
    assert CSRF.search(page.text)
    # Nothing runs and nothing is fetched: no script, no asset from anywhere.
    assert "<script" not in page.text
    assert not re.search(r"\b(src|href)=", page.text)
    assert_locked_down(page)


async def test_approving_sends_the_customer_back_and_the_charge_succeeds(
    browser: httpx.AsyncClient, challenge: Challenge, database: Database, settings: Settings
) -> None:
    token = await csrf_token(browser, challenge.path)
    answered = await browser.post(challenge.path, data={"csrf_token": token, "decision": "approve"})
    # A refresh, not a redirect: a redirect after the post would be held to this page's form-action all the way
    # to the merchant's success URL.
    assert answered.status_code == 200
    assert sends_back(answered)
    assert_locked_down(answered)
    confirmed = await challenge.confirm(database, settings)
    assert (confirmed.outcome, confirmed.decline_code) == (Outcome.SUCCEEDED, None)

    after = await browser.get(challenge.path)
    assert after.status_code == 200
    assert "This payment was approved." in after.text
    assert "<form" not in after.text
    assert f'<a href="{RETURN_URL.replace("&", "&amp;")}">' in after.text


async def test_failing_declines_the_charge_with_authentication_failed(
    browser: httpx.AsyncClient, challenge: Challenge, database: Database, settings: Settings
) -> None:
    token = await csrf_token(browser, challenge.path)
    answered = await browser.post(challenge.path, data={"csrf_token": token, "decision": "fail"})
    assert answered.status_code == 200
    assert sends_back(answered)
    confirmed = await challenge.confirm(database, settings)
    assert (confirmed.outcome, confirmed.decline_code) == (Outcome.DECLINED, DeclineCode.AUTHENTICATION_FAILED)
    assert customer_message(confirmed.decline_code) == "We are unable to authenticate your payment method."
    assert "This payment was not authorised." in (await browser.get(challenge.path)).text


@pytest.mark.parametrize("sent", [None, "", "0" * 64, "é"])
async def test_a_missing_or_wrong_csrf_token_is_refused_and_changes_nothing(
    browser: httpx.AsyncClient, challenge: Challenge, database: Database, settings: Settings, sent: str | None
) -> None:
    form = {"decision": "approve"} if sent is None else {"decision": "approve", "csrf_token": sent}
    refused = await browser.post(challenge.path, data=form)
    assert refused.status_code == 403
    assert "Request refused" in refused.text
    assert_locked_down(refused)
    assert (await challenge.confirm(database, settings)).outcome is Outcome.REQUIRES_ACTION


async def test_another_challenges_csrf_token_is_refused(
    browser: httpx.AsyncClient, session: AsyncSession, settings: Settings, database: Database
) -> None:
    mine = await start_challenge(session, database, settings)
    theirs = await start_challenge(session, database, settings)
    token = await csrf_token(browser, theirs.path)
    assert token != await csrf_token(browser, mine.path)
    refused = await browser.post(mine.path, data={"csrf_token": token, "decision": "approve"})
    assert refused.status_code == 403
    assert (await mine.confirm(database, settings)).outcome is Outcome.REQUIRES_ACTION


async def test_a_decided_challenge_cant_be_decided_again(
    browser: httpx.AsyncClient, challenge: Challenge, database: Database, settings: Settings
) -> None:
    token = await csrf_token(browser, challenge.path)
    first = await browser.post(challenge.path, data={"csrf_token": token, "decision": "approve"})
    assert first.status_code == 200
    assert sends_back(first)
    second = await browser.post(challenge.path, data={"csrf_token": token, "decision": "fail"})
    assert second.status_code == 409
    assert "This payment was approved." in second.text
    assert_locked_down(second)
    assert (await challenge.confirm(database, settings)).outcome is Outcome.SUCCEEDED


async def test_concurrent_answers_decide_once(
    browser: httpx.AsyncClient, challenge: Challenge, database: Database, settings: Settings
) -> None:
    token = await csrf_token(browser, challenge.path)
    answers = ["approve", "fail"] * 3
    responses = await asyncio.gather(
        *(browser.post(challenge.path, data={"csrf_token": token, "decision": answer}) for answer in answers)
    )
    statuses = [response.status_code for response in responses]
    assert sorted(statuses) == [200] + [409] * 5
    assert sum(sends_back(response) for response in responses) == 1
    winner = answers[statuses.index(200)]
    confirmed = await challenge.confirm(database, settings)
    assert confirmed.outcome is (Outcome.SUCCEEDED if winner == "approve" else Outcome.DECLINED)


async def test_an_unknown_token_reveals_nothing(
    browser: httpx.AsyncClient, challenge: Challenge, database: Database, settings: Settings
) -> None:
    assert challenge.charge.processor_reference is not None
    unknown = [
        "/simulator/3ds/sim3ds_unknown",
        "/simulator/3ds/" + "x" * 500,
        # The charge's own id is no key to its page.
        f"/simulator/3ds/{challenge.charge.processor_reference}",
    ]
    bodies = set()
    for path in unknown:
        for response in (await browser.get(path), await browser.post(path, data={"decision": "approve"})):
            assert response.status_code == 404
            assert path.rsplit("/", 1)[1] not in response.text
            assert_locked_down(response, form_action="'self'")
            bodies.add(response.text)
    assert len(bodies) == 1
    assert (await challenge.confirm(database, settings)).outcome is Outcome.REQUIRES_ACTION


@pytest.mark.parametrize("decision", [None, "maybe"])
async def test_an_answer_other_than_approve_or_fail_is_a_field_error(
    browser: httpx.AsyncClient, challenge: Challenge, database: Database, settings: Settings, decision: str | None
) -> None:
    token = await csrf_token(browser, challenge.path)
    form = {"csrf_token": token} if decision is None else {"csrf_token": token, "decision": decision}
    refused = await browser.post(challenge.path, data=form)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "decision"]
    assert (await challenge.confirm(database, settings)).outcome is Outcome.REQUIRES_ACTION


async def test_without_a_return_url_the_answer_is_shown_on_the_page(
    browser: httpx.AsyncClient, session: AsyncSession, settings: Settings, database: Database
) -> None:
    challenge = await start_challenge(session, database, settings, return_url=None)
    token = await csrf_token(browser, challenge.path)
    answered = await browser.post(challenge.path, data={"csrf_token": token, "decision": "approve"})
    assert answered.status_code == 200
    assert "This payment was approved." in answered.text
    assert "<a " not in answered.text
    assert_locked_down(answered, form_action="'self'")
    assert (await challenge.confirm(database, settings)).outcome is Outcome.SUCCEEDED
