"""Exactly once: customers (or a double-clicking one) confirming one session at the same time make one charge, one
payment and one subscription, and every other confirm gets a clear 409 (real requests against a real server);
resumes after one challenge racing each other complete it once. On both backends."""

from __future__ import annotations

import asyncio
import threading

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.accounts import service as accounts
from checkstand.catalog import service as catalog
from checkstand.checkout import service as checkout
from checkstand.checkout.models import CheckoutSession
from checkstand.db import Database
from checkstand.payments import flow as payment_flow
from checkstand.payments import service as payments_service
from checkstand.payments import three_d_secure
from checkstand.payments.models import SUCCEEDED, CheckoutAttempt, Payment
from checkstand.processors import simulator
from checkstand.processors.models import SimulatorCharge
from checkstand.subscriptions.models import Subscription
from tests import support
from tests.payments import flow
from tests.shop import Shop

RACERS = 20


async def _paid_plan_session(database_url: str) -> tuple[str, str]:
    """An account with a simulator and an open session selling a monthly plan: ``(account_id, secure_token)``."""
    database = support.connect_url(database_url)
    try:
        async with database.writing() as session:
            account = await accounts.create_account(session, name="Race")
            plan = await catalog.create_product(session, account.id, name="Plan")
            monthly = await catalog.create_price(
                session,
                account.id,
                product_id=plan.id,
                currency="usd",
                unit_amount_atom=900,
                recurring_interval="month",
            )
            await session.commit()
        async with database.writing() as session:
            await flow.simulator(session, account.id)
            created = await flow.open_session(session, account.id, [monthly.id])
            return account.id, created.secure_token
    finally:
        await database.dispose()


async def _counts(database_url: str, account_id: str) -> dict[str, int]:
    database = support.connect_url(database_url)
    try:
        async with database.reading() as session:
            counts = {}
            for name, model in (
                ("charges", SimulatorCharge),
                ("payments", Payment),
                ("subscriptions", Subscription),
                ("attempts", CheckoutAttempt),
            ):
                counts[name] = int(
                    await session.scalar(select(func.count()).select_from(model).where(model.account_id == account_id))
                    or 0
                )
            paid = await session.scalar(select(CheckoutSession).where(CheckoutSession.account_id == account_id))
            assert paid is not None
            counts["completed"] = int(checkout.state(paid) == "success")
            return counts
    finally:
        await database.dispose()


def test_twenty_concurrent_confirms_make_one_charge_one_payment_one_subscription(server: support.Server) -> None:
    account_id, token = asyncio.run(_paid_plan_session(server.database_url))
    url = f"{server.base_url}/api/public/checkout/{token}/confirm"
    body = {
        "payment_method": {"card": {"number": flow.GOOD_CARD, "exp_month": 12, "exp_year": 2099, "cvc": "123"}},
        "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
    }
    start = threading.Barrier(RACERS)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def confirm() -> None:
        with httpx.Client(timeout=60) as http:
            start.wait()
            answer = http.post(url, json=body)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=confirm) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] + [409] * (RACERS - 1), [a.text for a in answers]
    winner = next(answer for answer in answers if answer.status_code == 200)
    assert winner.json()["state"] == "succeeded"
    codes = {answer.json()["code"] for answer in answers if answer.status_code == 409}
    assert codes <= {"checkout_attempt_in_progress", "checkout_session_completed"}
    assert asyncio.run(_counts(server.database_url, account_id)) == {
        "charges": 1,
        "payments": 1,
        "subscriptions": 1,
        "attempts": 1,
        "completed": 1,
    }


async def test_concurrent_resumes_after_a_challenge_complete_once(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    await flow.simulator(session, shop.account_id)
    created = await flow.open_session(session, shop.account_id, [shop.yearly])
    gateway = flow.gateway(database)
    waiting = await payment_flow.confirm(gateway, created.secure_token, flow.paying(flow.card(flow.THREE_DS_CARD)))
    assert waiting.action_url is not None
    async with database.writing() as writing:
        charge = await simulator.find_challenge(writing, waiting.action_url.rsplit("/", 1)[1])
        assert charge is not None
        await simulator.decide_challenge(writing, charge, approve=True)
        await writing.commit()

    settled = await asyncio.gather(
        *(three_d_secure.resume(gateway, created.secure_token, waiting.id) for _ in range(5))
    )

    assert {attempt.state for attempt in settled} == {SUCCEEDED}
    async with database.reading() as fresh:
        assert await flow.count(fresh, Payment, shop.account_id) == 1
        assert await flow.count(fresh, Subscription, shop.account_id) == 1
        assert await flow.count(fresh, SimulatorCharge, shop.account_id) == 1
        final = await payments_service.get_attempt(fresh, shop.account_id, waiting.id)
    assert [t.to_state for t in final.transitions].count(SUCCEEDED) == 1
