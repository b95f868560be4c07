"""The confirm rate limits: failed payments counted per session, per client IP and per card, successes never; on both
backends."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.core.clock import FrozenClock
from checkstand.core.errors import RateLimited
from checkstand.db import Database
from checkstand.payments import flow as payment_flow
from checkstand.payments.adapters import Gateway
from checkstand.payments.models import FAILED, SUCCEEDED, CheckoutAttempt
from checkstand.payments.rate_limits import RateLimits, fingerprint_key
from tests.payments import flow
from tests.payments.flow import card, paying
from tests.shop import Shop

WINDOW = timedelta(minutes=10)
OFFICE = "203.0.113.9"
ELSEWHERE = "198.51.100.7"


def limits(*, per_session: int = 100, per_ip: int = 100, per_card: int = 100) -> RateLimits:
    return RateLimits(
        window=WINDOW,
        max_failed_per_session=per_session,
        max_failed_per_ip=per_ip,
        max_failed_per_card=per_card,
        fingerprint_key=fingerprint_key("test-card-fingerprint-key-0000000000"),
    )


def gateway(database: Database, rate_limits: RateLimits) -> Gateway:
    return dataclasses.replace(flow.gateway(database), policy=dataclasses.replace(flow.POLICY, rate_limits=rate_limits))


async def test_failures_of_one_session_are_rate_limited_for_a_while(
    session: AsyncSession, database: Database, shop: Shop, frozen_clock: FrozenClock
) -> None:
    await flow.simulator(session, shop.account_id)
    created = await flow.open_session(session, shop.account_id, [shop.tshirt])
    paying_through = gateway(database, limits(per_session=3))
    for number in flow.DECLINING_CARDS[:3]:
        failed = await payment_flow.confirm(paying_through, created.secure_token, paying(card(number)))
        assert failed.state == FAILED

    with pytest.raises(RateLimited):
        await payment_flow.confirm(paying_through, created.secure_token, paying())
    frozen_clock.advance(WINDOW + timedelta(seconds=1))
    assert (await payment_flow.confirm(paying_through, created.secure_token, paying())).state == SUCCEEDED


async def test_successes_from_one_address_never_count(session: AsyncSession, database: Database, shop: Shop) -> None:
    """A shop behind one load balancer or NAT: every customer has the same address, and each one who pays is fine."""
    await flow.simulator(session, shop.account_id)
    paying_through = gateway(database, limits(per_ip=2))

    for _ in range(5):
        created = await flow.open_session(session, shop.account_id, [shop.tshirt])
        paid = await payment_flow.confirm(paying_through, created.secure_token, paying(client_ip=OFFICE))
        assert paid.state == SUCCEEDED


async def test_failures_from_one_address_are_rate_limited_across_sessions(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    await flow.simulator(session, shop.account_id)
    paying_through = gateway(database, limits(per_ip=3))
    created = [await flow.open_session(session, shop.account_id, [shop.tshirt]) for _ in range(4)]
    for target, number in zip(created[:3], flow.DECLINING_CARDS, strict=False):
        failed = await payment_flow.confirm(paying_through, target.secure_token, paying(card(number), client_ip=OFFICE))
        assert failed.state == FAILED

    with pytest.raises(RateLimited):
        await payment_flow.confirm(paying_through, created[3].secure_token, paying(client_ip=OFFICE))
    # Another address is not held back by that one.
    paid = await payment_flow.confirm(paying_through, created[3].secure_token, paying(client_ip=ELSEWHERE))
    assert paid.state == SUCCEEDED


async def test_failures_of_one_card_are_rate_limited_across_sessions_and_addresses(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    """A card tester rotates sessions and addresses, and varies the expiry and security code: the card still counts."""
    await flow.simulator(session, shop.account_id)
    paying_through = gateway(database, limits(per_card=3))
    created = [await flow.open_session(session, shop.account_id, [shop.tshirt]) for _ in range(4)]
    for index, target in enumerate(created[:3]):
        method = card(flow.LOST_CARD, exp_year=2090 + index, cvc=f"{index}{index}{index}")
        failed = await payment_flow.confirm(
            paying_through, target.secure_token, paying(method, client_ip=f"192.0.2.{index}")
        )
        assert failed.state == FAILED

    with pytest.raises(RateLimited) as limited:
        await payment_flow.confirm(
            paying_through, created[3].secure_token, paying(card(flow.LOST_CARD), client_ip="192.0.2.99")
        )
    assert "this card" in limited.value.detail
    # Another card pays the same session.
    paid = await payment_flow.confirm(paying_through, created[3].secure_token, paying(client_ip="192.0.2.99"))
    assert paid.state == SUCCEEDED


async def test_a_card_is_known_by_a_keyed_fingerprint_never_by_its_number(
    session: AsyncSession, database: Database, shop: Shop
) -> None:
    await flow.simulator(session, shop.account_id)
    paying_through = gateway(database, limits())
    for _ in range(2):
        created = await flow.open_session(session, shop.account_id, [shop.tshirt])
        await payment_flow.confirm(paying_through, created.secure_token, paying(card(flow.LOST_CARD)))

    async with database.reading() as fresh:
        stored = list(await fresh.scalars(select(CheckoutAttempt.card_fingerprint)))

    assert len(stored) == 2
    assert stored[0] == stored[1]
    assert stored[0] is not None
    assert flow.LOST_CARD not in stored[0]
    assert flow.LOST_CARD[-4:] not in stored[0]
    # Under another secret key the same card has another fingerprint: a leaked table can't be matched by hashing
    # every card number.
    other = dataclasses.replace(limits(), fingerprint_key=fingerprint_key("another-secret-key-000000000000000000"))
    assert other.card_fingerprint(card(flow.LOST_CARD)) != stored[0]
    assert limits().card_fingerprint(card(flow.LOST_CARD)) == stored[0]
    assert limits().card_fingerprint(card(flow.GOOD_CARD)) != stored[0]
