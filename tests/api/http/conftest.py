"""Fixtures for the HTTP plumbing's tests."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from checkstand.checkout.models import CheckoutSession
from tests.payments import flow
from tests.shop import Shop


@pytest.fixture
async def opened(session: AsyncSession, shop: Shop) -> CheckoutSession:
    """An open checkout session (committed), for requests to its hosted page."""
    await flow.simulator(session, shop.account_id)
    opened = await flow.open_session(session, shop.account_id, [shop.tshirt])
    await session.commit()
    return opened
