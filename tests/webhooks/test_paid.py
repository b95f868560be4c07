"""Paid's webhooks in the service and the in-process worker, on both backends: two first saves racing make one
secret and one webhook; private URLs refused unless allowed; a Paid delivery retried and ordered like any other,
signed with the account's secret; the secret resealed with the at-rest key like every other."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core.clock import FrozenClock
from checkstand.core.crypto import SecretBox
from checkstand.core.errors import InvalidFields
from checkstand.db import Database
from checkstand.settings import Settings
from checkstand.webhooks import endpoints
from checkstand.webhooks import paid as paid_webhooks
from checkstand.webhooks.models import PaidSigningSecret, WebhookEndpoint
from checkstand.worker import Worker
from tests.webhooks.paid_receiver import Receiver, running_receiver, verifies

NAME = "billing-checkout-completed"


@pytest.fixture
def box(settings: Settings) -> SecretBox:
    return SecretBox(*settings.at_rest_keys)


async def test_two_first_saves_at_once_make_one_secret_and_one_webhook(
    database: Database, merchant: tuple[str, str], box: SecretBox
) -> None:
    account_id, _ = merchant

    async def save(hold: float) -> paid_webhooks.SavedPaidWebhook:
        async with database.writing() as session:
            saved = await paid_webhooks.save_paid_webhook(
                session, account_id, NAME, {"enabled": True, "url": "https://merchant.example/hooks"}, box=box
            )
            await asyncio.sleep(hold)  # still uncommitted while the other request runs
            await session.commit()
            return saved

    first, second = await asyncio.gather(save(0.3), save(0))
    assert sorted([first.new_secret is None, second.new_secret is None]) == [False, True]
    async with database.reading() as session:
        assert await session.scalar(select(func.count()).select_from(PaidSigningSecret)) == 1
        held = (await session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.paid_name == NAME))).all()
    assert [(endpoint.is_active, endpoint.url) for endpoint in held] == [(True, "https://merchant.example/hooks")]
    assert first.webhook.endpoint is not None
    assert second.webhook.endpoint is not None
    assert first.webhook.endpoint.id == second.webhook.endpoint.id


@pytest.mark.parametrize("url", ["http://127.0.0.1/hooks", "http://localhost:8080/hooks", "http://10.0.0.7/"])
async def test_a_private_url_is_refused_unless_the_operator_allows_it(
    session: AsyncSession, merchant: tuple[str, str], box: SecretBox, url: str
) -> None:
    account_id, _ = merchant
    with pytest.raises(InvalidFields) as refused:
        await paid_webhooks.save_paid_webhook(session, account_id, NAME, {"enabled": True, "url": url}, box=box)
    assert [(problem.path, problem.type) for problem in refused.value.problems] == [(("url",), "url_not_public")]
    saved = await paid_webhooks.save_paid_webhook(
        session, account_id, NAME, {"enabled": True, "url": url}, box=box, allow_private_urls=True
    )
    assert saved.webhook.url == url


async def _enabled(session: AsyncSession, account_id: str, box: SecretBox, receiver: Receiver) -> str:
    saved = await paid_webhooks.save_paid_webhook(
        session, account_id, NAME, {"enabled": True, "url": receiver.url()}, box=box, allow_private_urls=True
    )
    await session.commit()
    assert saved.new_secret is not None
    return saved.new_secret


async def test_a_paid_delivery_is_retried_and_ordered_like_any_other(
    session: AsyncSession, merchant: tuple[str, str], box: SecretBox, worker: Worker, frozen_clock: FrozenClock
) -> None:
    account_id, _ = merchant
    with running_receiver() as receiver:
        secret = await _enabled(session, account_id, box, receiver)
        receiver.status = 503
        await paid_webhooks.send_paid_test(session, account_id, NAME)
        await paid_webhooks.send_paid_test(session, account_id, NAME)
        await session.commit()

        assert (await worker.run_once())["deliver_webhooks"] == 1  # the second waits for the first
        listed = await paid_webhooks.list_paid_webhooks(session, account_id)
        assert [(w.name, w.last_status) for w in listed.webhooks if w.endpoint is not None] == [(NAME, "failed")]
        await session.rollback()  # a read that holds SQLite's write lock would keep the worker waiting
        assert (await worker.run_once())["deliver_webhooks"] == 0  # not due yet

        receiver.status = 200
        frozen_clock.advance(timedelta(seconds=2))  # the first retry of quick settings: within [1, 2] s
        assert (await worker.run_once())["deliver_webhooks"] == 2
        ids = [delivery.headers["x-webhook-id"] for delivery in receiver.deliveries]
        assert ids[0] == ids[1] != ids[2]  # the failed one again, then the second
        assert all(verifies(delivery, secret, frozen_clock.now()) for delivery in receiver.deliveries)
        assert all(delivery.envelope["isTest"] for delivery in receiver.deliveries)
        listed = await paid_webhooks.list_paid_webhooks(session, account_id)
        (webhook,) = [w for w in listed.webhooks if w.endpoint is not None]
        assert (webhook.last_status, webhook.last_sent_at) == ("success", frozen_clock.now())


async def test_the_paid_secret_is_resealed_with_the_new_at_rest_key(
    session: AsyncSession, merchant: tuple[str, str]
) -> None:
    account_id, _ = merchant
    secret = await paid_webhooks.rotate_paid_secret(session, account_id, SecretBox("old key"))
    assert await endpoints.reseal_secrets(session, SecretBox("new key", "old key")) == 1
    held = await session.get(PaidSigningSecret, account_id)
    assert held is not None
    assert SecretBox("new key").open(held.sealed_secret) == secret
